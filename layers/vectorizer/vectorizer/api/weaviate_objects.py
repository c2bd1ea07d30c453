"""Weaviate class definitions and objects, and the text `text2vec-huggingface` builds from an object.

A caller may send a whole Weaviate class definition instead of a bare moduleConfig, and Weaviate
objects instead of texts. `object_text` then builds each object's text the way Weaviate (2024 and
later) does before it calls Hugging Face, so the vectors match the ones Weaviate would store:

1. the class name, split on camelCase (`SuperCar` -> `Super Car`), when the class-level
   `vectorizeClassName` is true (the default);
2. then the properties in byte order of their names, leaving out those whose property-level
   `skip` is true; only string values count (text, text[], the deprecated string/string[], and
   blob, which is a base64 string); a text[] value gives one entry per element;
3. with the property-level `vectorizePropertyName`, each entry is `<name split on camelCase> <value>`;
4. entries joined by one space, nothing lowercased; no entry at all falls back to the class name.

Weaviate normalises names before any of this: a class name gets an upper-case first letter and a
property name (in the class and in the object) a lower-case one. Properties missing from the class
are typed the way Weaviate's auto-schema types them: a string is text unless it parses as an
RFC 3339 date or a UUID, which are not text. Weaviate refuses an object whose text property holds
something other than a string; so does `object_text` (`InvalidObjectError`).

Not supported: named vectors (`vectorConfig`) and source properties (`properties` in the module
config); both are refused with a message rather than silently building a different text.

`module_config` returns the class-level moduleConfig minus the keys that shape text, for
`config.ModuleConfig`.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Mapping
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from vectorizer.errors import InvalidConfigError, VectorizerError

MODULE_NAME = "text2vec-huggingface"

# Class-level moduleConfig keys that shape the text rather than the Hugging Face call.
TEXT_SETTINGS = ("vectorizeClassName",)

# Weaviate's own name rules (entities/schema/validation.go), applied after its normalisation.
_CLASS_NAME = re.compile(r"^[A-Z][_0-9A-Za-z]*$")
_PROPERTY_NAME = re.compile(r"^[_A-Za-z][_0-9A-Za-z]*$")
_RESERVED_PROPERTY_NAMES = frozenset({"_additional", "_id", "id"})

_TEXT_TYPES = frozenset({"text", "string", "blob"})
_TEXT_ARRAY_TYPES = frozenset({"text[]", "string[]"})


class InvalidObjectError(VectorizerError, ValueError):
    """An object Weaviate itself would refuse, so no text can be built for it."""

    status = 422
    code = "invalid_object"


# --- names -------------------------------------------------------------------------------------


def _char_class(char: str) -> int:
    category = unicodedata.category(char)
    if category == "Ll":
        return 1
    if category == "Lu":
        return 2
    if category == "Nd":
        return 3
    return 4


def camel_case_split(name: str) -> list[str]:
    """Split a name into words the way github.com/fatih/camelcase (Weaviate's splitter) does.

    Runs of lower-case letters, upper-case letters, digits and anything else become parts; an
    upper-case run followed by lower-case letters hands its last letter over, so `PDFLoader`
    gives `PDF`, `Loader`. Takes the name; returns its parts in order (spaces are parts too).
    """
    runs: list[list[str]] = []
    last = 0
    for char in name:
        kind = _char_class(char)
        if runs and kind == last:
            runs[-1].append(char)
        else:
            runs.append([char])
        last = kind
    for i in range(len(runs) - 1):
        if _char_class(runs[i][0]) == 2 and _char_class(runs[i + 1][0]) == 1:
            runs[i + 1].insert(0, runs[i].pop())
    return ["".join(run) for run in runs if run]


def _go_lower(text: str) -> str:
    # Go's strings.ToLower maps rune by rune with no context rules (no final sigma, one rune for
    # U+0130), unlike str.lower().
    return "".join(char.lower()[:1] or char for char in text)


def split_camel_case(name: str, lowercase: bool = False) -> str:
    """`SuperCar` -> `Super Car`: the words of a name joined by spaces, as Weaviate writes them.

    Takes the name and whether to lowercase each word (Go's rune-by-rune ToLower); returns the text.
    """
    out: list[str] = []
    for i, part in enumerate(camel_case_split(name)):
        if part == " ":
            continue
        if i > 0:
            out.append(" ")
        out.append(_go_lower(part) if lowercase else part)
    return "".join(out)


def normalize_class_name(name: str) -> str:
    """Weaviate stores class names with an upper-case first letter (`article` -> `Article`)."""
    return name[:1].upper() + name[1:] if name[:1].isascii() else name


def normalize_property_name(name: str) -> str:
    """Weaviate stores property names with a lower-case first letter (`Title` -> `title`)."""
    return name[:1].lower() + name[1:] if name[:1].isascii() else name


# --- the class definition ----------------------------------------------------------------------


def _module_settings(module_config: Any) -> dict[str, Any]:
    if isinstance(module_config, Mapping):
        settings = module_config.get(MODULE_NAME)
        if isinstance(settings, Mapping):
            return dict(settings)
    return {}


def _flag(settings: Mapping[str, Any], key: str, default: bool) -> bool:
    # Weaviate reads these flags only when they are JSON booleans; anything else means the default.
    value = settings.get(key)
    return value if isinstance(value, bool) else default


class WeaviateProperty(BaseModel):
    """One entry of a class's `properties`; keys this service does not use are kept as they are."""

    model_config = ConfigDict(extra="allow", populate_by_name=True)

    name: str
    data_type: list[str] = Field(alias="dataType", min_length=1)
    module_config: dict[str, Any] | None = Field(None, alias="moduleConfig")

    @field_validator("name")
    @classmethod
    def _weaviate_property_name(cls, value: str) -> str:
        name = normalize_property_name(value)
        if not _PROPERTY_NAME.match(name):
            raise ValueError(
                f"property name {value!r} is not a valid Weaviate property name (/[_A-Za-z][_0-9A-Za-z]*/)"
            )
        if name in _RESERVED_PROPERTY_NAMES:
            raise ValueError(f"property name {value!r} is reserved in Weaviate")
        return name

    @property
    def settings(self) -> dict[str, Any]:
        """The property's `moduleConfig.text2vec-huggingface`."""
        return _module_settings(self.module_config)

    @property
    def skip(self) -> bool:
        """The property's `skip` setting: True leaves it out of the text (default False)."""
        return _flag(self.settings, "skip", False)

    @property
    def vectorize_property_name(self) -> bool:
        """The property's `vectorizePropertyName`: True puts its name before each value (default False)."""
        return _flag(self.settings, "vectorizePropertyName", False)


class WeaviateClass(BaseModel):
    """A Weaviate class definition, as `GET /v1/schema/{class}` returns it.

    Only the parts that decide the text and the module config are read; every other key a class
    carries (vectorIndexConfig, invertedIndexConfig, replicationConfig, ...) is accepted and kept.
    """

    model_config = ConfigDict(extra="allow", populate_by_name=True)

    class_name: str = Field(alias="class")
    vectorizer: str | None = None
    module_config: dict[str, Any] | None = Field(None, alias="moduleConfig")
    properties: list[WeaviateProperty] | None = None

    @field_validator("class_name")
    @classmethod
    def _weaviate_class_name(cls, value: str) -> str:
        name = normalize_class_name(value)
        if not _CLASS_NAME.match(name):
            raise ValueError(f"class name {value!r} is not a valid Weaviate class name (/[A-Z][_0-9A-Za-z]*/)")
        return name

    @field_validator("module_config")
    @classmethod
    def _module_entry_is_an_object(cls, value: dict[str, Any] | None) -> dict[str, Any] | None:
        if value is not None and value.get(MODULE_NAME) is not None and not isinstance(value[MODULE_NAME], dict):
            raise ValueError(f"moduleConfig.{MODULE_NAME} must be an object")
        return value

    @model_validator(mode="after")
    def _unique_property_names(self) -> WeaviateClass:
        seen: set[str] = set()
        for prop in self.properties or ():
            if prop.name in seen:
                raise ValueError(f"class {self.class_name!r} has property {prop.name!r} more than once")
            seen.add(prop.name)
        return self

    @property
    def settings(self) -> dict[str, Any]:
        """The class-level `moduleConfig.text2vec-huggingface`, or `{}`."""
        return _module_settings(self.module_config)

    @property
    def vectorize_class_name(self) -> bool:
        """The class's `vectorizeClassName`: True starts the text with the class name (default True)."""
        return _flag(self.settings, "vectorizeClassName", True)

    def get_property(self, name: str) -> WeaviateProperty | None:
        """The declared property called `name` (as normalised), or None when the class has none."""
        for prop in self.properties or ():
            if prop.name == name:
                return prop
        return None


class WeaviateObject(BaseModel):
    """An object to vectorize: `{"id": ..., "properties": {...}}` (other keys, e.g. `class`, ignored)."""

    model_config = ConfigDict(extra="ignore")

    id: str | None = None
    properties: dict[str, Any] = Field(default_factory=dict)

    @field_validator("properties", mode="before")
    @classmethod
    def _null_is_empty(cls, value: Any) -> Any:
        return {} if value is None else value


def _as_class(weaviate_class: WeaviateClass | Mapping[str, Any]) -> WeaviateClass:
    if isinstance(weaviate_class, WeaviateClass):
        return weaviate_class
    return WeaviateClass.model_validate(weaviate_class)


def _uses_named_vectors(weaviate_class: WeaviateClass) -> bool:
    vector_config = (weaviate_class.model_extra or {}).get("vectorConfig")
    if not isinstance(vector_config, Mapping):
        return False
    for named in vector_config.values():
        vectorizer = named.get("vectorizer") if isinstance(named, Mapping) else None
        if isinstance(vectorizer, Mapping) and MODULE_NAME in vectorizer:
            return True
    return False


def _checked_settings(weaviate_class: WeaviateClass) -> dict[str, Any]:
    settings = weaviate_class.settings
    if not settings and _uses_named_vectors(weaviate_class):
        raise InvalidConfigError(
            f"class {weaviate_class.class_name!r} configures {MODULE_NAME} as a named vector (vectorConfig), "
            f"which this service does not support; put the settings in the class-level moduleConfig"
        )
    if settings.get("properties") is not None:
        raise InvalidConfigError(
            f"'properties' (source properties) in moduleConfig.{MODULE_NAME} is not supported; "
            f"leave other properties out with their own 'skip' setting instead"
        )
    return settings


def module_config(weaviate_class: WeaviateClass | Mapping[str, Any]) -> dict[str, Any]:
    """The class-level text2vec-huggingface moduleConfig, for `config.ModuleConfig`.

    Takes a class (validated or a mapping); returns a new dict. Raises InvalidConfigError for
    settings this service does not support (named vectors, source `properties`).
    The keys that shape the object text (`vectorizeClassName`) are taken out. Weaviate also reads
    the endpoint from `endpointUrl` (before `endpointURL`); that spelling is turned into
    `endpointURL` here. Every other key is passed through, so unknown ones still fail validation.
    """
    settings = _checked_settings(_as_class(weaviate_class))
    for key in TEXT_SETTINGS:
        settings.pop(key, None)
    if "endpointUrl" in settings:
        alternative = settings.pop("endpointUrl")
        if isinstance(alternative, str) and alternative:
            settings["endpointURL"] = alternative
    return settings


# --- the object's text -------------------------------------------------------------------------

_RFC3339 = re.compile(
    r"^([0-9]{4})-([0-9]{2})-([0-9]{2})T([0-9]{1,2}):([0-9]{2}):([0-9]{2})(?:[.,][0-9]+)?"
    r"(?:Z|[+-]([0-9]{2}):([0-9]{2}))$"
)
_HEX = "0123456789abcdefABCDEF"
_DAYS = (31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31)


def _is_rfc3339(value: str) -> bool:
    """Whether Go's `time.Parse(time.RFC3339, value)` accepts the string (auto-schema's date test)."""
    match = _RFC3339.match(value)
    if not match:
        return False
    year, month, day, hour, minute, second = (int(part) for part in match.groups()[:6])
    if not 1 <= month <= 12 or not 0 <= hour < 24 or minute > 59 or second > 59:
        return False
    leap = year % 4 == 0 and (year % 100 != 0 or year % 400 == 0)
    if not 1 <= day <= _DAYS[month - 1] + (1 if month == 2 and leap else 0):
        return False
    # Go checks an offset only against 24 hours and 60 minutes.
    return match.group(7) is None or (int(match.group(7)) <= 24 and int(match.group(8)) <= 60)


def _is_uuid(value: str) -> bool:
    """Whether github.com/google/uuid's `Parse` accepts the string (auto-schema's uuid test)."""
    if len(value) == 45 and value[:9].lower() == "urn:uuid:":
        value = value[9:]
    elif len(value) == 38:
        value = value[1:-1]  # google/uuid drops the first and last characters unread (normally braces)
    if len(value) == 32:
        return all(char in _HEX for char in value)
    if len(value) != 36:
        return False
    return all(char == "-" if i in (8, 13, 18, 23) else char in _HEX for i, char in enumerate(value))


def _auto_schema_type(value: Any) -> str:
    """The data type Weaviate's auto-schema gives a value it has no property for."""
    if value is None:
        return "null"
    if isinstance(value, str):
        if _is_rfc3339(value):
            return "date"
        if _is_uuid(value):
            return "uuid"
        return "text"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, Mapping):
        return "object"
    return type(value).__name__


def _type_name(value: Any) -> str:
    return "null" if value is None else type(value).__name__


def _declared_texts(class_name: str, prop: WeaviateProperty, value: Any) -> list[str]:
    data_type = prop.data_type[0] if len(prop.data_type) == 1 else ""
    if data_type in _TEXT_TYPES:
        if not isinstance(value, str):
            raise InvalidObjectError(
                f"invalid {data_type} property {prop.name!r} on class {class_name!r}: not a string, "
                f"but {_type_name(value)}"
            )
        return [value]
    if data_type in _TEXT_ARRAY_TYPES:
        if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
            raise InvalidObjectError(
                f"invalid {data_type} property {prop.name!r} on class {class_name!r}: not an array of strings"
            )
        return list(value)
    return []  # numbers, booleans, dates, uuids, geo, phone, objects, references: never text


def _auto_schema_texts(class_name: str, name: str, value: Any) -> list[str]:
    if isinstance(value, str):
        return [value] if _auto_schema_type(value) == "text" else []
    if isinstance(value, list):
        if not value:
            return []
        first = _auto_schema_type(value[0])
        for i, item in enumerate(value[1:], start=1):
            if (found := _auto_schema_type(item)) != first:
                raise InvalidObjectError(
                    f"property {name!r} on class {class_name!r}: element [{i}]: mismatched data type - "
                    f"'{first}' expected, got '{found}'"
                )
        return list(value) if first == "text" else []
    return []


def _normalized_properties(class_name: str, properties: Mapping[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in properties.items():
        if value is None:
            continue  # Weaviate drops null properties before it builds the text
        if not isinstance(key, str):
            raise InvalidObjectError(f"property name {key!r} on class {class_name!r} is not a string")
        name = normalize_property_name(key)
        if not _PROPERTY_NAME.match(name) or name in _RESERVED_PROPERTY_NAMES:
            raise InvalidObjectError(
                f"property name {key!r} on class {class_name!r} is not a valid Weaviate property name"
            )
        if name in out:
            raise InvalidObjectError(
                f"properties {key!r} and {name!r} on class {class_name!r} are the same Weaviate property"
            )
        out[name] = value
    return out


def object_text(
    weaviate_class: WeaviateClass | Mapping[str, Any],
    properties: Mapping[str, Any] | WeaviateObject | None,
    *,
    lowercase: bool = False,
) -> str:
    """The text Weaviate's text2vec-huggingface sends to Hugging Face for one object.

    `lowercase=True` reproduces a Weaviate started with `LOWERCASE_VECTORIZATION_INPUT=true`
    (and every Weaviate before 2024): class name, property names and values all lowercased.
    Pass a validated `WeaviateClass` when building many texts; a mapping is validated each call.
    Returns the text; raises InvalidObjectError for an object Weaviate would refuse.
    """
    cls = _as_class(weaviate_class)
    _checked_settings(cls)
    if isinstance(properties, WeaviateObject):
        properties = properties.properties
    props = _normalized_properties(cls.class_name, properties or {})
    declared = {prop.name: prop for prop in cls.properties or ()}

    class_text = split_camel_case(cls.class_name, lowercase)
    entries: list[str] = [class_text] if cls.vectorize_class_name else []
    for name in sorted(props):  # code point order == UTF-8 byte order, as Go's sort.Strings
        prop = declared.get(name)
        if prop is None:
            texts, with_name = _auto_schema_texts(cls.class_name, name, props[name]), False
        else:
            texts = _declared_texts(cls.class_name, prop, props[name])
            if prop.skip:
                continue
            with_name = prop.vectorize_property_name
        label = split_camel_case(name, lowercase) if with_name else ""
        for text in texts:
            value = _go_lower(text) if lowercase else text
            entries.append(f"{label} {value}" if with_name else value)
    if not entries:
        entries.append(class_text)
    return " ".join(entries)
