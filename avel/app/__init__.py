"""The Gradio app: settings (config), handlers, the page (layout), drawing (views), start-up (server)."""
