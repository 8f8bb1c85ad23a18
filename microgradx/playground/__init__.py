"""The playground: train a network live in the browser, and open any neuron's backward pass.

``microgradx playground`` (`microgradx.cli.playground`) starts `PlaygroundServer`, a local
web server on 127.0.0.1 that serves one offline page (`static/`) in the spirit of TensorFlow
Playground. Training runs in Python, in a `Run` per page session, with microgradx's own
components and the Trainer's compiled steps; the page is a view and a remote control. Any
neuron or weight opens the explorer's view of its scalar graph (`explore_page`).

Modules: `settings` (what the page and its URL can set, checked), `network` (registered
``Layer`` s, an activation per layer), `model` (one configuration's dataset, loss, network,
Trainer and compiled probe), `frames` (the grid and the heat maps), `run` (a session's
training thread), `explore` (the explorer view), `server` (the server and its runs), `handler`
(each HTTP request).
"""

from microgradx.playground.explore import explore_page
from microgradx.playground.network import Network
from microgradx.playground.run import Run, RunError
from microgradx.playground.server import PlaygroundServer, serve
from microgradx.playground.settings import Settings, SettingsError, parse

__all__ = ["Network", "PlaygroundServer", "Run", "RunError", "Settings", "SettingsError", "explore_page", "parse",
           "serve"]
