"""The chat page: rendering answers and sources, the live index behind it, reader feedback."""
