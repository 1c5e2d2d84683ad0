import pytest

import book_site


@pytest.fixture(scope="session")
def built(testrun_uid):
    """The built website's folder (_build/html), built once per run however many workers ask."""
    book_site.build_once(testrun_uid)
    return book_site.HTML
