"""Web edge: the application factory, request dependencies, the page layout and static assets."""
