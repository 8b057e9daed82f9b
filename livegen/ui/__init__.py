"""The control surface: a page in the browser beside ``livegen run`` (docs/api.md).

- :mod:`livegen.ui.commands`: the page's commands, checked at the boundary;
- :mod:`livegen.ui.state`: the state as JSON, read from the daemon's snapshots;
- :mod:`livegen.ui.server`: the HTTP and WebSocket server (aiohttp) in a thread of its own;
- ``static/``: the page (plain HTML, CSS and JavaScript: no build step, nothing fetched).
"""
