"""The ground station: web app, REST and Open311 APIs, storage, tickets and the `gridpatrol` CLI."""
