"""Route tables of the client API, one module per resource."""
