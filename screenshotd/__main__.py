from screenshotd.cli.main import main

main()
