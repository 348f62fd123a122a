"""Tests for the Health Trackers integration."""
