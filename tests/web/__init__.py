"""Tests of the web pages: the status page, its SVG and the browser view."""
