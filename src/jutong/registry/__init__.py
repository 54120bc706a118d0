"""Registry: regions, departments, users and roles, the system census, zombie rules, integration plans, filings."""
