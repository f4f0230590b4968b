"""The care staff's web page (`carebot staff web`): live alerts, robots and the monthly impact report.

- view:     what the page shows, kept from the site's MQTT traffic (the nurse-station console's view, extended)
- impact:   the impact figures from anonymous activity counts and the alert lifecycle, in a small sqlite file
- accounts: staff accounts with Argon2 hashes, and login failures that slow down
- app:      the aiohttp application: sessions, CSRF, security headers, the pages, the event stream, the actions
- cli:      `carebot staff web` and `carebot staff web adduser`
"""
