"""The manager: watches the job folder and launches one ephemeral runner per ready task."""
