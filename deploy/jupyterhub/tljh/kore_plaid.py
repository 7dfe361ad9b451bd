# The Littlest JupyterHub (TLJH) drop-in for a kore-plaid training class.
#
#   sudo cp deploy/jupyterhub/tljh/kore_plaid.py /opt/tljh/config/jupyterhub_config.d/
#   sudo tljh-config reload hub
#
# TLJH loads every *.py of /opt/tljh/config/jupyterhub_config.d/ after its own configuration
# (users, authenticator, HTTPS, idle culler: `tljh-config`). This file only sets TLJH's paths
# and loads deploy/jupyterhub/jupyterhub_config.py from the checkout, which adds the runbook
# copy, the trainees' environment and the board service. Its settings are environment
# variables (listed at the top of that file); TLJH's Hub is a systemd unit, so set them with
# `sudo systemctl edit jupyterhub`:
#
#   [Service]
#   Environment=KORE_PLAID_TRAINERS=<the trainers' TLJH names, comma-separated>
#
# TLJH's Hub has no way to see variables set in a shell. The trainers (also TLJH admins:
# `sudo tljh-config add-item users.admin NAME`) open the board at /services/board/, signing in
# through the Hub; trainees post with their own Hub tokens (deploy/jupyterhub/README.md).

import os

# Where the checkout lives (`git clone ... /opt/kore-plaid`), and the Python of the trainees'
# environment, into which `sudo /opt/tljh/user/bin/pip install -e /opt/kore-plaid` installed
# the runbook (the board runs there too: the Hub's own environment does not have it).
os.environ.setdefault("KORE_PLAID_CHECKOUT", "/opt/kore-plaid")
os.environ.setdefault("KORE_PLAID_PYTHON", "/opt/tljh/user/bin/python")
# The Hub runs in /opt/tljh/state: the board's state folder and generated token go there.
os.environ.setdefault("KORE_PLAID_BOARD_HOME", "/opt/tljh/state/kore-plaid-board")

CONFIG = os.path.join(
    os.environ["KORE_PLAID_CHECKOUT"], "deploy", "jupyterhub", "jupyterhub_config.py"
)
if not os.path.isfile(CONFIG):  # load_subconfig would skip a missing file without a word
    raise FileNotFoundError(f"{CONFIG} does not exist: set KORE_PLAID_CHECKOUT to the checkout")
load_subconfig(CONFIG)  # noqa: F821 (given by JupyterHub when it loads this file)
