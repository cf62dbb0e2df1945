"""Project Scrapy commands (`COMMANDS_MODULE`): they replace the built-in ones of the same name."""
