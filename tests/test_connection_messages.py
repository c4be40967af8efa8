"""Connection tests answer in words: an address that cannot be parsed is named as such, never with the name of the
exception the HTTP library raised."""

from __future__ import annotations

import pytest

from wfdesk.providers.connection_test import check_a1111


@pytest.mark.parametrize("address", ["http://bad host:7860", "http://127.0.0.1:99999"])
def test_an_address_that_cannot_be_parsed_is_named_in_words(address):
    ok, message = check_a1111(address)
    assert not ok
    assert message.startswith(f"Not a usable address: {address}")
    assert "InvalidURL" not in message
    assert "Error" not in message
