"""The command line: ``main`` (serve, shot, diff, sign), ``batch`` (screenshotd batch) and
``mcp`` (the MCP server on stdio)."""
