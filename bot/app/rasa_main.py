"""``rasa run`` with its HTTP API token taken from the environment, not the command line.

Rasa reads the token only from ``--auth-token``, where every user of the machine can see it in
the process list; the supervisor runs this script in Rasa's environment instead, with the token
in ``BOT_RASA_TOKEN``, and it is put into Rasa's arguments inside the process. Standard library
only: it runs on Rasa's Python 3.10 and imports nothing of the platform.
"""

import os
import sys

TOKEN_ENV = "BOT_RASA_TOKEN"


def main() -> None:
    token = os.environ.pop(TOKEN_ENV, "")
    if not token:
        sys.exit(f"{TOKEN_ENV} is not set: the supervisor passes Rasa's API token in it")
    sys.argv = ["rasa", *sys.argv[1:], "--auth-token", token]
    from rasa.__main__ import main as rasa_main

    rasa_main()


if __name__ == "__main__":
    main()
