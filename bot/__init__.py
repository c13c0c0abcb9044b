"""The conversation core: settings, app, message path, Rasa client, store, command line."""
