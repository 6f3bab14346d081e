"""The story and its plan: story.md read into a Story (reader), the validated Plan of characters and shots (plan), the
film's shape (shape) and the pace speech is budgeted at (pace)."""
