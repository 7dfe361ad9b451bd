"""Write the runbook notebooks' sources (cells without outputs) into notebooks/.

The notebooks are thin: each code cell calls ``kore_plaid_nb.runbook.steps``. Run this after
changing a notebook's text here, then ``make notebooks`` to store fresh outputs.
"""

from __future__ import annotations

import sys
from pathlib import Path

import nbformat
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

NOTEBOOKS = Path(__file__).resolve().parent.parent / "notebooks"
SETUP = "from kore_plaid_nb.runbook import steps\n\nsettings = steps.start({name!r})"


def md(text: str) -> nbformat.NotebookNode:
    return new_markdown_cell(text.strip())


def code(source: str, tags: tuple[str, ...] = ()) -> nbformat.NotebookNode:
    cell = new_code_cell(source.strip())
    if tags:
        cell.metadata["tags"] = list(tags)
    return cell


BOOKS: dict[str, list[nbformat.NotebookNode]] = {}

BOOKS["00_start_here"] = [
    md("""
# 00 · Start here

This runbook connects a **Kore.ai** bot to **Plaid** (accounts, balances, transactions,
identity, investments, liabilities) through an *OAuth v2 - Custom* authorization profile.

Plaid has no OAuth provider for this, so Kore's documented procedure runs Plaid's Quickstart app
with two files replaced, exposes it through ngrok and has you type a dozen values into Kore.
Here, one small Python process, the **bridge**, does what the patched Quickstart did (correctly:
`state`, client authentication, one Item per end user, refresh, a SQLite store), a **tunnel**
makes it public, and every step is checked before you touch Kore.

The *procedure steps* below are those of Kore's Plaid page (Kore XO Platform documentation,
Integrations > Actions > Plaid: *Pre-authorize the Integration*), which builds on Kore's
[guide to OAuth v2 authorization profiles](https://developer.kore.ai/docs/bots/advanced-topics/authorization/setting-up-authorization-using-oauth-v2).

| notebook | procedure step | what happens |
|---|---|---|
| 01_plaid_keys | 4.ii-iv | Plaid client_id, secret and environment, checked against Plaid, saved to `.env` |
| 02_redirect_uri | 4.v-vi | Kore's callback URL and Plaid's allowed redirect URIs |
| 03_bridge | 4.vii-x | the bridge (replaces the Quickstart app) started and checked |
| 04_tunnel | 5 | the public URL (ngrok) |
| 05_kore_profile | 4-9 | every value to type into Kore's authorization profile |
| 06_authorize | 10-12 | *Pre-authorize the Integration*: authorize and verify every product as Kore calls it |
| 07_end_users | *Allow Users to Authorize* | several end users, each with their own bank Item |
| 08_teardown | | tunnel and bridge stopped, Items removed, secrets wiped on request |

### The chain you are building
```mermaid
flowchart LR
    user([End user in the bot]) -->|1. opens the Authorization URL| tunnel
    kore[Kore.ai bot<br/>OAuth v2 - Custom profile] -->|sends the user to| user
    subgraph here [this runbook: notebooks 03-04]
        bridge[bridge<br/>OAuth 2.0 server + Link page]
        tunnel[tunnel<br/>ngrok public URL]
    end
    tunnel --- bridge
    bridge -->|2. Plaid Link: the user picks a bank| plaid[(Plaid API)]
    bridge -->|3. redirect with code + state| kore
    kore -->|4. Token URL: code or refresh_token| tunnel
    kore -->|5. actions: balance, transactions, identity, ...| plaid
```
Kore never talks to Plaid Link itself: the bridge runs Link, keeps one Plaid Item per end user,
and hands Kore the Item's access token through its Token URL (step 4). Kore's actions then call
Plaid directly with that token (step 5).

### Two modes
* **embedded** (the default, when no Plaid keys are configured): a built-in Plaid Sandbox
  emulator, a Link stand-in and a local tunnel stand-in. No account, no internet: for training
  rooms, CI and a first look. URLs it shows are local and Kore cannot reach them.
* **live**: your Plaid keys in `.env` (notebook 01), a real ngrok tunnel (notebook 04) and the
  real Kore platform.

Run the notebooks in order, or any one alone: each starts what it needs. Nothing here prints a
secret; secrets live in `.env` (mode 0600, ignored by git).
"""),
    code(SETUP.format(name="00_start_here")),
    md("### Prerequisites\nThe check below lists what the runbook needs and whether it is there."),
    code("steps.prerequisites(settings)"),
    md(
        "### Current settings\nRead from `.env` and the environment (the environment wins). "
        "Secrets are shown masked."
    ),
    code("steps.show_settings(settings)"),
]

BOOKS["01_plaid_keys"] = [
    md("""
# 01 · Plaid keys (procedure steps 4.ii-iv)

**In Kore** (procedure steps 1-4.i: in the Plaid integration choose *Custom* > *Select
Authorization* > *Create New*, mechanism **oAuth v2**):
give the profile an *Identity Provider Name*, e.g. `Plaid`.

**In the Plaid dashboard** (<https://dashboard.plaid.com>): *Developers > Keys*. Copy the
**client_id** and the **secret of the environment** you will use:

* **Sandbox**: test banks and the test user `user_good` / `pass_good`. Start here.
* **Production**: real banks, real people.
* ~~Development~~: decommissioned by Plaid on 2024-06-20. The procedure still lists it; pick
  Sandbox or Production instead.

The same client_id and secret go into Kore's *Client ID* and *Client Secret Key* fields
(notebook 05 lists them again). Enter them below and press **Check and save**: they are
checked against Plaid first, and written to `.env` (mode 0600) only when Plaid accepts them.
When Plaid cannot be reached, nothing is saved and the form asks whether to **Save anyway**.
Leave them empty to stay in the embedded mode; to go back to it later, empty the client_id box
and press **Check and save** (or remove `PLAID_CLIENT_ID` and `PLAID_SECRET` from `.env`).
Headless runs skip the form and use `.env` as it is.
"""),
    code(SETUP.format(name="01_plaid_keys")),
    code("steps.plaid_keys_form(settings)"),
    md(
        "### Check the keys against Plaid\nOne `/link/token/create` call with your keys: Plaid "
        "answers `INVALID_API_KEYS` when the client_id, the secret or the environment is wrong. "
        "It checks the keys as saved now, including what the form above saved."
    ),
    code("steps.check_plaid_keys(settings)"),
    md(
        "### What a wrong key looks like\nThe same call with a deliberately wrong secret, so that "
        "you recognise the message when it happens to you."
    ),
    code("steps.show_wrong_secret(settings)"),
    md("### The Development environment\nWhat you see when `.env` says `PLAID_ENV=development`:"),
    code('steps.explain_environment("development")'),
]

BOOKS["02_redirect_uri"] = [
    md("""
# 02 · Callback and redirect URIs (procedure steps 4.v-vi)

**In Kore**, the authorization profile shows a read-only **Callback Link**. Kore's docs show one
per region or host (the table below). **Copy yours from Kore's form; it must match exactly.**
After the user authorizes, the bridge sends the browser there with `?code=...` (and Kore's
`state`, when Kore sent one). The bridge redirects *only* to callback URLs it knows, compared
character by character, so it must be the same string here as in Kore. A URL that is none of
those Kore's docs show is saved anyway, with a warning: check it against Kore's form.

**In the Plaid dashboard**: *Developers > API > Allowed redirect URIs > Configure*, add:

1. the Kore callback URL (what the procedure asks for), and
2. the bridge's own `/oauth-return` page (its public URL appears in notebook 05). Banks that
   log in through OAuth (in Sandbox: *Platypus OAuth Bank*) send the browser back to this
   page, which re-opens Link and then finishes the Kore flow. Pointing Plaid at Kore's callback
   instead, as the procedure does, breaks exactly those banks.

Plaid refuses `/link/token/create` with `INVALID_FIELD` for a redirect URI that is not in the
allowed list: the check below uses that to prove the dashboard step was done.
"""),
    code(SETUP.format(name="02_redirect_uri")),
    md(
        "### Kore's callback URLs\nThe ones Kore's docs show, by region or host; `yes` marks "
        "the one in `.env` (PLAID_REDIRECT_URI)."
    ),
    code("steps.kore_callbacks(settings)"),
    md(
        "### Yours\nPick it from the list or paste it from Kore's form, then **Save** "
        "(written to `.env` as PLAID_REDIRECT_URI)."
    ),
    code("steps.callback_form(settings)"),
    code("steps.check_redirect_uris(settings)"),
]

BOOKS["03_bridge"] = [
    md("""
# 03 · The bridge (procedure steps 4.vii-x)

The procedure runs Plaid's Quickstart (React frontend + Node backend) with two replaced files.
The bridge is that app, done right, in one Python process:

* `GET /` is the **Authorization URL**: it checks `client_id`, `redirect_uri` and `state`
  and opens Plaid Link;
* `POST /api/set_access_token` exchanges the public token once, stores the Item and mints a
  single-use authorization code;
* `POST /api/send_the_access_token_AUTH` is the **Token Request URL** and the **Refresh Token
  URL**: Kore gets the Item's access token there;
* everything lives in a SQLite file in the state folder, so a restart loses nothing.

The `.env` values the procedure lists (step x) are the bridge's settings:
"""),
    code(SETUP.format(name="03_bridge")),
    code("steps.show_settings(settings)"),
    md(
        "### Start the bridge\nIt runs in the background and outlives this notebook; "
        "notebook 08 stops it. In the embedded mode the Plaid emulator starts first."
    ),
    code("steps.start_bridge(settings)"),
    md(
        "### Check it\nThe health endpoint, the Authorization URL (as Kore will open it) and "
        "the token endpoint's answer to a request without credentials (it must refuse)."
    ),
    code("steps.check_bridge(settings)"),
]

BOOKS["04_tunnel"] = [
    md("""
# 04 · The tunnel (procedure step 5)

Kore runs on the internet; the bridge runs here. The procedure uses ngrok to give it a public
HTTPS URL; this notebook does the same with **pyngrok**.

* **live**: needs an ngrok account's **authtoken** (dashboard.ngrok.com > Your Authtoken). A
  reserved domain (dashboard.ngrok.com > Domains, e.g. `my-bot.ngrok.app`) keeps the URL,
  and so the Kore profile, the same across restarts. Paste them below and press **Save**.
* **embedded**: a local stand-in of the ngrok agent, driven by the same pyngrok code. Its URL is
  `http://127.0.0.1:...`: local, Kore cannot reach it.
"""),
    code(SETUP.format(name="04_tunnel")),
    code("steps.ngrok_form(settings)"),
    code("steps.open_tunnel(settings)"),
    md("### Check the tunnel\nA request through the public URL must reach the bridge."),
    code("steps.check_tunnel(settings)"),
]

BOOKS["05_kore_profile"] = [
    md("""
# 05 · The Kore authorization profile (procedure steps 4-9)

In Kore: *Custom* > *Select Authorization* > *Create New*, type **oAuth v2**. The table below
has one row per input of that form, in the order Kore's form shows them, with the label Kore
shows, what to do and the value. Every value has a **Copy** button; URLs open in a new tab.
The Client Secret Key and PLAID-SECRET are shown masked: their Copy button copies the real value
without showing it, and nothing of it is saved in this notebook.
"""),
    code(SETUP.format(name="05_kore_profile")),
    code("steps.show_profile(settings)", tags=("report-profile",)),
    md(
        "### Plaid's allowed redirect URIs, now that the public URL is known\n"
        "Both must be in the Plaid dashboard (notebook 02 explains why)."
    ),
    code("steps.check_redirect_uris(settings)"),
    md("""
### Notes
* **Subdomain / Tenancy URL**: choose *Yes* and type the base URL with `{tenant}` literally;
  Kore asks for the tenant (`sandbox` or `production`) when you authorize or test.
* **Authorization Fields**: field 1 is the *Authorization* field Kore already has: edit it
  (pencil icon) to payload `access_token` = `{{accessToken}}`; fields 2 and 3 are added with
  *Add Authorization Fields*.
* The Copy buttons need the running kernel (run the cell again after reopening). Where the
  browser refuses the clipboard, select the value instead.
* In a terminal, at the project's folder: `.venv/bin/kore-plaid profile --reveal` prints the
  same table with the secret in clear; `--json` prints it as JSON.
"""),
]

BOOKS["06_authorize"] = [
    md("""
# 06 · Authorize and verify (procedure steps 10-12, *Pre-authorize the Integration*)

**In Kore**: save the profile, select it, click **Authorize**. Kore opens the Authorization URL;
log in to a bank in Plaid Link (Sandbox: `user_good` / `pass_good`); the bridge sends the
browser back to Kore, and Kore fetches the access token from the Token Request URL.

Before you do that, this notebook plays Kore's part itself: the authorization request with a
fresh `state`, the user in Link, the redirect to the callback, the token request (a form with
HTTP Basic, and Kore's sample JSON `{code}`), the refresh, and then every Plaid call that
Kore's Plaid actions make, with the profile's fields (`access_token` in the payload,
`PLAID-CLIENT-ID` / `PLAID-SECRET` headers, the tenant in the host).

How Kore's OAuth client sends its credentials, its body, `state` or PKCE is not documented:
the simulator plays the plainest client, and the bridge accepts every plausible shape
(`kore-plaid verify --matrix` proves all 24). Each assumption and its source:
`docs/kore-contract.md`.
"""),
    code(SETUP.format(name="06_authorize")),
    code("steps.verify(settings)", tags=("report-verification",)),
    md(
        "### Kore's own requests\nAfter you click *Authorize* in Kore, this cell shows that "
        "Kore's token call reached the bridge (masked), or says what to check. In the embedded "
        "mode Kore cannot reach this machine, so a stand-in plays it, sending what a Kore other "
        "than the simulator's default might send."
    ),
    code("steps.wait_for_kore(settings)"),
    md(
        "### What Kore sent\nThe bridge records the *shape* of every request to its "
        "Authorization URL and Token URL: parameter and header names, how the client "
        "authenticated, the body type, whether `state`, PKCE and `scope` were there, the "
        "answer's status. Never a value. Below, the newest requests from Kore, compared with "
        "each assumption of the simulator; every difference is named and explained. "
        "`kore-plaid kore-requests` lists them all; `kore-plaid verify --as-recorded` plays "
        "the whole chain the way Kore sent it."
    ),
    code("steps.what_kore_sent(settings)"),
]

BOOKS["07_end_users"] = [
    md("""
# 07 · End users (*Allow Users to Authorize the Integration*)

With this choice, each end user authorizes their own bank during the conversation. The profile
values are the same as in notebook 05.

### What each end user sees
1. **A link in the chat.** When a Plaid action needs an authorization the user has not given
   yet, Kore posts a link in the conversation. It opens the Authorization URL: the bridge's
   page with Plaid Link, where the user logs in to their bank. *(Kore's docs)*
2. **The tenant prompt.** The profile's *Subdomain / Tenancy URL* is *Yes*, so Kore asks for
   the tenant that fills `https://{tenant}.plaid.com`: the user types `sandbox` (test banks)
   or `production` (real banks). *(Kore's docs: the prompt; the two values are Plaid's two
   hosts, an inference.)* Tell your users which one to type.
3. **One authorization per user.** Each end user authorizes for themselves, and the bridge
   keeps one Plaid Item per authorization, so users never see each other's accounts. *(Kore's
   docs: each user authorizes; that Kore keeps exactly one authorization per user is
   inferred. The bridge's side is checked below.)*

### When a token stops working
Kore emails the bot's developers, puts the integration in an error state, and the user sees
"Something went wrong". *(Kore's docs)* Plaid access tokens do not expire, and the bridge's
token answer has no `expires_in`, so Kore never refreshes on a timer: it can only use the
Refresh Token URL when a call fails. *(Kore's docs say refresh is used "when the token
expires"; that Kore reads no timer without `expires_in` is an inference.)* A bank that asks its
user to log in again is repaired without a new authorization: see the end of this notebook.

Below, three simulated end users authorize, each at a different bank, and each token only
reaches that user's Item.
"""),
    code(SETUP.format(name="07_end_users")),
    code("steps.authorize_end_users(settings, count=3)"),
    md("### What the bridge holds\nThe bridge's store, masked: one row per authorization."),
    code("steps.show_authorizations(settings)"),
    md("""
### Items over time: when the bank asks the user to log in again
After the first authorization, Plaid reports what happens to each Item by **webhook**: the
bridge gives Plaid its `<public URL>/plaid/webhook`, checks each webhook's signature
(`Plaid-Verification`, ES256) and records the Item's health. When a bank wants the user to log
in again (`ITEM_LOGIN_REQUIRED`), Kore's actions fail for that user until they do; the bridge
then offers a **repair link** (single use, valid 24 h) that opens Plaid Link in update mode.
The Item and Kore's access token stay the same: nothing is re-authorized in Kore.

Below, one more end user authorizes; the Sandbox makes the bank ask for a new login
(`/sandbox/item/reset_login`); the user opens the repair link and logs in again.
"""),
    code("steps.walk_item_repair(settings)"),
    md("""
### Every Item's health
`kore-plaid items` (or `kore-plaid items --json`) lists every Item the bridge holds: bank,
health, last webhook and, for an Item that needs its user, a fresh repair link to send them.
"""),
    code("steps.show_items(settings)"),
]

BOOKS["08_teardown"] = [
    md("""
# 08 · Teardown

Stops the tunnel, the bridge and the emulator, and removes the Items the bridge created (so
they stop counting against your Plaid account). Kore's profile keeps working again once you
start the bridge and tunnel (with a reserved ngrok domain, the URLs stay the same).

To also delete the saved Plaid and ngrok secrets from `.env`, call
`steps.teardown(settings, wipe_secrets=True)`.
"""),
    code(SETUP.format(name="08_teardown")),
    code("steps.teardown(settings, wipe_secrets=False)"),
    md("""
### Where you are, and going live
What this run proved, and what is left before a Kore bot uses real Plaid data: a checklist,
ticked where your settings already show it done.
"""),
    code("steps.go_live(settings)"),
]


FINISH = [
    md("""
### Done? What comes next
Records this notebook as done in your progress (`kore-plaid progress`; the trainer's board
too, when the class has one) and names the next notebook.
"""),
    code("steps.finish(settings)"),
]


def main() -> int:
    NOTEBOOKS.mkdir(exist_ok=True)
    for name, cells in BOOKS.items():
        nb = new_notebook(cells=[*cells, *FINISH])
        nb.metadata["kernelspec"] = {
            "name": "python3",
            "display_name": "Python 3",
            "language": "python",
        }
        nb.metadata["language_info"] = {"name": "python"}
        for index, cell in enumerate(nb.cells):
            cell["id"] = f"{name[:2]}-{index:02d}"
        nbformat.write(nb, NOTEBOOKS / f"{name}.ipynb")
    print(f"wrote {len(BOOKS)} notebooks to {NOTEBOOKS}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
