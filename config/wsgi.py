import gc
import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.local")
application = get_wsgi_application()

# The server process's garbage collector, tuned once the app is loaded (each gunicorn worker
# imports this module). Freezing moves everything loaded so far (Django, DRF, the models, the
# URL and schema machinery) out of the collector's reach: it is never garbage, yet each full
# collection walked it. A higher first threshold collects the young objects of a request less
# often. An ingest request of 1,000 events spent 15-17 ms of its ~95 ms in the collector before,
# under 1 ms after (docs/performance.md, "Issue 3, third session").
gc.freeze()
gc.set_threshold(20_000, 20, 20)
