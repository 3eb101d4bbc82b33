"""gunicorn settings for production (behind nginx)."""

import multiprocessing

bind = "0.0.0.0:8000"
workers = max(2, multiprocessing.cpu_count())
threads = 4  # WADO-RS streams files; threads keep a slow client from holding a whole worker
worker_class = "gthread"
timeout = 120
accesslog = "-"
control_socket_disable = True
forwarded_allow_ips = "*"
