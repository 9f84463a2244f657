"""Reading photos and turning them into previews and network input."""
