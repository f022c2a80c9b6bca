"""The demo: private PostgreSQL and Redis servers, the demo district, the live simulator."""
