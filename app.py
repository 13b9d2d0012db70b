"""The chat page's entry point: ``python app.py [--host H] [--port P] [--index-dir DIR] ...``.

The page itself is ``qa/page/app.py`` (its Gradio wiring), ``qa/page/render.py`` and its neighbours
``reply.py``, ``conversation.py``, ``panel.py`` and ``display.py`` (the HTML) and ``qa/page/live.py`` (the index
it follows as it changes).
"""

import sys

from qa.page.app import main

if __name__ == "__main__":
    sys.exit(main())
