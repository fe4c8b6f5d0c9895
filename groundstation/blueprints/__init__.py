"""One blueprint per area: auth, grids, review, tickets, admin, the JSON API and Open311."""
