"""Limit/offset pages with bounds: a page is at most ``max_limit`` rows, and neither number can
overflow the database's LIMIT/OFFSET integers (PostgreSQL refuses beyond 2^63 - 1)."""

from rest_framework.pagination import LimitOffsetPagination

MAX_OFFSET = 2**62


class BoundedLimitOffsetPagination(LimitOffsetPagination):
    max_limit = 1000

    def get_offset(self, request):
        return min(super().get_offset(request), MAX_OFFSET)
