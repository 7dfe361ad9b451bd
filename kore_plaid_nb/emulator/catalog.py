"""Plaid's catalogue endpoints: the Sandbox institutions (``/institutions/get``,
``/institutions/search``, ``/institutions/get_by_id``) and ``/categories/get``.

Institutions carry ``url``, ``logo`` and ``primary_color`` only when the request sets
``options.include_optional_metadata``, and ``payment_initiation_metadata`` only with
``options.include_payment_initiation_metadata``; otherwise those are null, as Plaid answers.
"""

from __future__ import annotations

import base64
import struct
import zlib
from functools import lru_cache
from typing import NamedTuple

from ..settings.plaid_vocabulary import COUNTRY_CODES as PLAID_COUNTRY_CODES
from . import data, fields
from .core import Body, Emulator
from .data import Institution
from .errors import PlaidAPIError

COUNTRY_CODES = PLAID_COUNTRY_CODES  # plaid-python's CountryCode
LOGO_SIZE = 152  # Plaid's logos are 152x152 PNGs


@lru_cache(maxsize=32)
def logo(color: str) -> str:
    """A base64 152x152 PNG filled with ``color`` (``#rrggbb``): a stand-in for a bank logo."""
    rgb = bytes.fromhex(color.lstrip("#"))
    rows = b"".join(b"\x00" + rgb * LOGO_SIZE for _ in range(LOGO_SIZE))

    def chunk(kind: bytes, payload: bytes) -> bytes:
        body = kind + payload
        return struct.pack(">I", len(payload)) + body + struct.pack(">I", zlib.crc32(body))

    header = struct.pack(">IIBBBBB", LOGO_SIZE, LOGO_SIZE, 8, 2, 0, 0, 0)
    png = b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header)
    png += chunk(b"IDAT", zlib.compress(rows, 9)) + chunk(b"IEND", b"")
    return base64.b64encode(png).decode()


class MetadataOptions(NamedTuple):
    """Which optional parts of an ``Institution`` the request asked for."""

    optional: bool = False
    payment_initiation: bool = False


def institution_json(
    institution_id: str, include: MetadataOptions, include_status: bool = False
) -> Institution | None:
    """The ``Institution`` object, with the optional metadata and the status when asked for."""
    institution = data.institution(institution_id)
    if institution is None:
        return None
    if include.optional:
        brand = data.BRANDS[institution_id]
        image = logo(brand.color) if brand.has_logo and brand.color else None
        institution |= {"url": brand.url, "primary_color": brand.color, "logo": image}
    if include.payment_initiation:
        institution["payment_initiation_metadata"] = data.payment_initiation_metadata(
            institution_id
        )
    if include_status:
        institution["status"] = data.status(data.BANKS[institution_id])
    return institution


def flag(options: Body, name: str) -> bool:
    """An optional boolean option (null counts as false)."""
    value = options.get(name)
    if value is None:
        return False
    if not isinstance(value, bool):
        raise fields.invalid(f"options.{name}", "must be true or false")
    return value


def _products_filter(body: Body, name: str, label: str) -> list[str] | None:
    """A nullable product filter: null means any product; otherwise at least one known."""
    products = fields.strings(body, name, required=False, allowed=data.KNOWN_PRODUCTS)
    if products is not None and not products:
        raise fields.invalid(label, "must contain at least one product, or be null")
    return products


def _required_integer(body: Body, name: str, minimum: int, maximum: int | None = None) -> int:
    if body.get(name) is None:
        raise fields.missing(name)
    return fields.integer(body, name, default=0, minimum=minimum, maximum=maximum)


def _matching(
    country_codes: list[str], products: list[str] | None, oauth: bool | None
) -> list[Institution]:
    """The Sandbox institutions in one of ``country_codes`` that support every product (and
    have or lack OAuth when ``oauth`` is not None), in catalogue order."""
    result = []
    for institution_id in data.INSTITUTION_IDS:
        institution = data.institution(institution_id)
        if institution is None:
            continue
        countries = set(institution["country_codes"])
        supported = set(institution["products"])
        if (
            countries & set(country_codes)
            and supported >= set(products or ())
            and oauth in (None, institution["oauth"])
        ):
            result.append(institution)
    return result


def routing_number_valid(number: str) -> bool:
    """Nine digits with a valid ABA checksum."""
    if len(number) != 9 or not number.isascii() or not number.isdigit():
        return False
    digits = [int(c) for c in number]
    weighted = 3 * sum(digits[0::3]) + 7 * sum(digits[1::3]) + sum(digits[2::3])
    return weighted % 10 == 0


def _routing_filter(options: Body) -> set[str] | None:
    """The valid routing numbers to match (None: no filter). As Plaid: invalid ones are
    dropped, and if every one given is invalid the request is refused."""
    numbers = fields.strings(options, "routing_numbers", required=False)
    if not numbers:
        return None
    valid = {n for n in numbers if routing_number_valid(n)}
    if not valid:
        raise fields.invalid(
            "options.routing_numbers",
            "has no valid routing number (9 digits with a valid ABA checksum)",
        )
    return valid


def _oauth_option(options: Body) -> bool | None:
    value = options.get("oauth")
    if value is not None and not isinstance(value, bool):
        raise fields.invalid("options.oauth", "must be true, false or null")
    return value


def _read_metadata_options(options: Body) -> MetadataOptions:
    """Check the ``include_*`` options; which metadata to include."""
    flag(options, "include_auth_metadata")
    return MetadataOptions(
        optional=flag(options, "include_optional_metadata"),
        payment_initiation=flag(options, "include_payment_initiation_metadata"),
    )


# ---------------------------------------------------------------------------- endpoints


def institutions_get(emulator: Emulator, body: Body) -> Body:
    country_codes = fields.strings(body, "country_codes", allowed=COUNTRY_CODES) or []
    count = _required_integer(body, "count", 1, 500)
    offset = _required_integer(body, "offset", 0)
    options = fields.obj(body, "options")
    products = _products_filter(options, "products", "options.products")
    wanted = _routing_filter(options)
    oauth = _oauth_option(options)
    include_metadata = _read_metadata_options(options)
    matching = _matching(country_codes, products, oauth)
    if wanted is not None:
        matching = [i for i in matching if wanted <= set(i["routing_numbers"])]
    page = matching[offset : offset + count]
    return {
        "institutions": [
            institution_json(str(i["institution_id"]), include_metadata) for i in page
        ],
        "total": len(matching),
    }


def institutions_search(emulator: Emulator, body: Body) -> Body:
    query = fields.text(body, "query") or ""
    country_codes = fields.strings(body, "country_codes", allowed=COUNTRY_CODES) or []
    products = _products_filter(body, "products", "products")
    options = fields.obj(body, "options")
    oauth = _oauth_option(options)
    fields.obj(options, "payment_initiation")
    include_metadata = _read_metadata_options(options)
    words = query.casefold().split()
    found = [
        institution_json(str(i["institution_id"]), include_metadata)
        for i in _matching(country_codes, products, oauth)
        if all(word in str(i["name"]).casefold() for word in words)
    ]
    return {"institutions": found}


def institutions_get_by_id(emulator: Emulator, body: Body) -> Body:
    """A bank outside ``country_codes`` is not found, as an unknown id (INVALID_INSTITUTION,
    Plaid's documented code for an institution_id that does not exist)."""
    institution_id = fields.text(body, "institution_id") or ""
    country_codes = fields.strings(body, "country_codes", allowed=COUNTRY_CODES) or []
    options = fields.obj(body, "options")
    include_status = flag(options, "include_status")
    institution = institution_json(institution_id, _read_metadata_options(options), include_status)
    if institution is None:
        raise PlaidAPIError("INVALID_INSTITUTION")
    if not set(institution["country_codes"]) & set(country_codes):
        raise PlaidAPIError(
            "INVALID_INSTITUTION",
            f"{institution_id} is not an institution of {', '.join(country_codes)}; send its "
            f"country ({', '.join(institution['country_codes'])}) in country_codes",
        )
    return {"institution": institution}


def categories_get(emulator: Emulator, body: Body) -> Body:
    """No credentials needed (the spec's ``security: []``); optional ones must be strings."""
    fields.text(body, "client_id", required=False)
    fields.text(body, "secret", required=False)
    return {"categories": data.categories()}
