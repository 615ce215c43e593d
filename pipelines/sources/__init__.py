"""Real chat in: chat logs people already have (``chat_logs``) and, later, live channels."""
