from screenshotd.cli.main import run

run()
