"""Running it like a product: demo, scheduler, replay site."""
