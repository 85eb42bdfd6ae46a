"""Tests of informer.workqueue, with a fake clock: nothing sleeps for real."""
