"""avel's Gradio app (avel/app/): `python app.py` serves http://127.0.0.1:7860.

GRADIO_SERVER_PORT / GRADIO_SERVER_NAME set the address; AVEL_APP_<FIELD> environment variables
override AppConfig's caps (e.g. AVEL_APP_MAX_SESSIONS=8). Uploads, caches and rendered outputs
live in one work folder whose parts are capped and which is removed at exit, on SIGTERM and SIGINT.
"""

from avel.app.server import main

if __name__ == "__main__":
    main()
