"""Conversations: listing, details, message pages, live nodes, full syncs, exports and
erasure."""
