#!/usr/bin/env python3
"""python manage.py migrate && python manage.py runserver (SESAME_KEYSET set)."""

import os
import sys

if __name__ == "__main__":
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "exampleproject.settings")
    from django.core.management import execute_from_command_line

    execute_from_command_line(sys.argv)
