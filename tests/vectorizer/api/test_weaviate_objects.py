"""Object text as Weaviate's text2vec-huggingface builds it (Weaviate 2024 and later, no lowercasing).

Where each expectation comes from, in weaviate/weaviate:
- usecases/modulecomponents/vectorizer/object_texts.go: ObjectVectorizer.TextsWithTitleProperty
  (class name first, keys sorted with sort.Strings, `case string` / `case []string` only without
  source properties, `<prop name> <value>` with vectorizePropertyName, join on " ", fall back to
  the class name) and separateCamelCase (github.com/fatih/camelcase, lowercasing only on request).
- usecases/modulecomponents/vectorizer/objects_texts_test.go: TestVectorizingObjects, the Car /
  SuperCar table ("Car brand Mercedes", "Super Car brand Of The Car best brand ...").
- usecases/modulecomponents/vectorizer/object_texts_test.go: "empty properties" -> "Test Class".
- usecases/modulecomponents/settings/base_class_settings.go: skip (default false),
  vectorizePropertyName (default false), vectorizeClassName (default true), each read only when
  it is a JSON boolean.
- modules/text2vec-huggingface/ent/class_settings.go: LowerCaseInput = false; endpointUrl is read
  before endpointURL.
- usecases/objects/validation/properties_validation.go: object keys get a lower-case first
  letter, null values are dropped, a text property must hold a string.
- entities/schema/schema.go: UppercaseClassName / LowercaseFirstLetter.
- usecases/objects/auto_schema.go: determineType (a string that parses as RFC 3339 is a date, one
  that parses as a UUID is a uuid, anything else text; array elements must agree).
- usecases/modules/vectorizer reVectorizeEmbeddings (2026): blob is vectorized as a string; uuid,
  geo, phone and references never are.
"""

from __future__ import annotations

from typing import Any

import pytest

from vectorizer.api.weaviate_objects import (
    InvalidObjectError,
    WeaviateClass,
    WeaviateObject,
    camel_case_split,
    module_config,
    object_text,
    split_camel_case,
)
from vectorizer.config import ModuleConfig
from vectorizer.errors import InvalidConfigError

HF = "text2vec-huggingface"


def prop(name: str, data_type: str = "text", *, skip: bool | None = None, with_name: bool | None = None) -> dict:
    settings: dict[str, Any] = {}
    if skip is not None:
        settings["skip"] = skip
    if with_name is not None:
        settings["vectorizePropertyName"] = with_name
    out: dict[str, Any] = {"name": name, "dataType": [data_type]}
    if settings:
        out["moduleConfig"] = {HF: settings}
    return out


def klass(name: str, *props: dict, class_name: bool | None = None, **hf: Any) -> dict:
    settings = dict(hf)
    if class_name is not None:
        settings["vectorizeClassName"] = class_name
    return {"class": name, "vectorizer": HF, "moduleConfig": {HF: settings}, "properties": list(props)}


# Weaviate's own TestVectorizingObjects runs with vectorizePropertyName true for every property.
CAR = klass("Car", prop("brand", with_name=True), prop("power", "int"), prop("review", with_name=True))
REVIEWS = prop("reviews", "text[]", with_name=True)
MIX = {"brand": "best brand", "power": 300, "review": "a very great car"}

CASES: list[tuple[str, dict, dict, str]] = [
    # --- objects_texts_test.go TestVectorizingObjects (lowerCase false) ------------------------
    ("empty object falls back to the class name", CAR, {}, "Car"),
    ("one string prop with its name", CAR, {"brand": "Mercedes"}, "Car brand Mercedes"),
    ("a non-string prop is not text; fallback", CAR, {"power": 300}, "Car"),
    ("mix of props, sorted, int ignored", CAR, MIX, "Car brand best brand review a very great car"),
    (
        "skip leaves a property out",
        klass("Car", prop("brand", with_name=True), prop("power", "int"), prop("review", skip=True)),
        MIX,
        "Car brand best brand",
    ),
    (
        "vectorizeClassName false drops the class name",
        klass("Car", prop("brand", with_name=True), prop("review", with_name=True), class_name=False),
        MIX,
        "brand best brand review a very great car",
    ),
    (
        "vectorizePropertyName false on one property",
        klass("Car", prop("brand", with_name=True), prop("review", with_name=False)),
        MIX,
        "Car brand best brand a very great car",
    ),
    (
        "no class name, no property name",
        klass("Car", prop("review"), class_name=False),
        {"review": "a very great car"},
        "a very great car",
    ),
    (
        "text[] gives one entry per element (no names)",
        klass("Car", prop("reviews", "text[]"), class_name=False),
        {"reviews": ["a very great car", "you should consider buying one"]},
        "a very great car you should consider buying one",
    ),
    (
        "text[] with property name repeats the name per element",
        klass("Car", REVIEWS),
        {"reviews": ["a very great car", "you should consider buying one"]},
        "Car reviews a very great car reviews you should consider buying one",
    ),
    (
        "camelCase class and property names are split, case kept",
        klass("SuperCar", prop("brandOfTheCar", with_name=True), prop("power", "int"), prop("review", with_name=True)),
        {"brandOfTheCar": "best brand", "power": 300, "review": "a very great car"},
        "Super Car brand Of The Car best brand review a very great car",
    ),
    # --- defaults (base_class_settings.go) --------------------------------------------------------
    (
        "defaults: class name on, property names off, values only",
        {"class": "Article", "properties": [prop("title"), prop("body")]},
        {"title": "Hello", "body": "World"},
        "Article World Hello",
    ),
    (
        "no moduleConfig and no properties in the class: auto-schema types everything",
        {"class": "Article"},
        {"title": "Hello", "views": 12, "tags": ["a", "b"]},
        "Article a b Hello",
    ),
    ("values keep their case (no lowercasing since 2024)", CAR, {"brand": "BMW iX"}, "Car brand BMW iX"),
    # --- names: camelCase split (fatih/camelcase) and Weaviate's normalisation ---------------------
    ("acronym then word", klass("PDFDocument"), {}, "PDF Document"),
    ("acronym, word, digits", klass("HTTPServer2Log"), {}, "HTTP Server 2 Log"),
    ("underscore is its own part", klass("My_Class"), {}, "My _ Class"),
    ("class name gets an upper-case first letter", klass("article"), {}, "Article"),
    (
        "object key gets a lower-case first letter (matches the class's property)",
        klass("Car", prop("brand", skip=True)),
        {"Brand": "skipped because 'Brand' is 'brand'"},
        "Car",
    ),
    # --- sorting: Go sort.Strings, byte order ------------------------------------------------------
    (
        "byte order: '_' before letters, 'aB' before 'aa', 'Zebra' stored as 'zebra'",
        klass("Note", prop("aa"), prop("aB"), prop("_private"), prop("b"), class_name=False),
        {"aa": "3", "b": "4", "aB": "2", "_private": "1", "Zebra": "5"},
        "1 2 3 4 5",
    ),
    (
        "byte order with property names: 'iD2' < 'iDs' < 'id' (uppercase before lowercase)",
        klass("Doc", prop("id2", with_name=True), prop("iDs", with_name=True), class_name=False),
        {"id2": "x", "iDs": "y", "iD2": "z"},
        "z i Ds y id 2 x",
    ),
    # --- which values count as text -----------------------------------------------------------------
    (
        "non-text data types are ignored",
        klass(
            "Place",
            prop("name"),
            prop("population", "int"),
            prop("area", "number"),
            prop("capital", "boolean"),
            prop("founded", "date"),
            prop("uid", "uuid"),
            prop("location", "geoCoordinates"),
            prop("phone", "phoneNumber"),
            prop("meta", "object"),
            prop("scores", "int[]"),
            prop("inCountry", "Country"),
        ),
        {
            "name": "Lyon",
            "population": 522250,
            "area": 47.87,
            "capital": False,
            "founded": "0043-01-01T00:00:00Z",
            "uid": "9b2f1c1e-8f53-4b8e-a1a0-3f0e1b2c3d4e",
            "location": {"latitude": 45.76, "longitude": 4.84},
            "phone": {"input": "+33 4 72 10 30 30"},
            "meta": {"note": "nested text is not vectorized"},
            "scores": [1, 2],
            "inCountry": [{"beacon": "weaviate://localhost/Country/9b2f1c1e-8f53-4b8e-a1a0-3f0e1b2c3d4f"}],
        },
        "Place Lyon",
    ),
    (
        "only non-text values: falls back to the class name",
        klass("Measurement", prop("value", "number"), class_name=False),
        {"value": 1.5},
        "Measurement",
    ),
    (
        "string and string[] (pre-1.19 types) are text",
        klass("Old", prop("title", "string"), prop("tags", "string[]")),
        {"title": "t", "tags": ["x", "y"]},
        "Old x y t",
    ),
    (
        "blob is a base64 string, so it is vectorized",
        klass("File", prop("data", "blob")),
        {"data": "aGk="},
        "File aGk=",
    ),
    ("empty text[] adds nothing", klass("Car", REVIEWS), {"reviews": []}, "Car"),
    ("null values are dropped", CAR, {"brand": None, "review": "ok"}, "Car review ok"),
    (
        "an empty string is still an entry (two spaces)",
        klass("Car", prop("a"), prop("b")),
        {"a": "", "b": "x"},
        "Car  x",
    ),
    (
        "only empty strings and no class name: empty text, no fallback",
        klass("Car", prop("a"), class_name=False),
        {"a": ""},
        "",
    ),
    # --- properties not in the class: auto-schema ---------------------------------------------------
    (
        "unknown string property is text (no property name: no moduleConfig)",
        klass("Car", prop("brand", with_name=True)),
        {"brand": "Audi", "colour": "red"},
        "Car brand Audi red",
    ),
    (
        "unknown RFC 3339 string is a date, not text",
        klass("Car"),
        {"built": "2021-03-04T05:06:07+01:00", "note": "ok"},
        "Car ok",
    ),
    (
        "unknown UUID string (any google/uuid form) is a uuid, not text",
        klass("Car"),
        {"a": "9B2F1C1E-8F53-4B8E-A1A0-3F0E1B2C3D4E", "b": "9b2f1c1e8f534b8ea1a03f0e1b2c3d4e", "c": "text"},
        "Car text",
    ),
    (
        "almost-dates stay text",
        klass("Car"),
        {"a": "2021-02-30T00:00:00Z", "b": "2021-03-04 05:06:07Z", "c": "2021-03-04T05:06:07"},
        "Car 2021-02-30T00:00:00Z 2021-03-04 05:06:07Z 2021-03-04T05:06:07",
    ),
    (
        "unknown string array is text[]; unknown number and bool are not text",
        klass("Car"),
        {"tags": ["fast", "red"], "doors": 4, "electric": True},
        "Car fast red",
    ),
    (
        "unknown array of dates is date[]",
        klass("Car"),
        {"services": ["2021-03-04T05:06:07Z", "2022-03-04T05:06:07.5Z"]},
        "Car",
    ),
]


@pytest.mark.parametrize(
    ("weaviate_class", "properties", "expected"), [c[1:] for c in CASES], ids=[c[0] for c in CASES]
)
def test_object_text(weaviate_class: dict, properties: dict, expected: str) -> None:
    assert object_text(weaviate_class, properties) == expected


def test_lowercase_switch_reproduces_lowercase_vectorization_input() -> None:
    # object_texts.go: LOWERCASE_VECTORIZATION_INPUT=true lowercases class name, property names, values.
    assert object_text(CAR, {"brand": "Mercedes"}, lowercase=True) == "car brand mercedes"
    cls = klass("SuperCar", prop("brandOfTheCar", with_name=True))
    assert object_text(cls, {"brandOfTheCar": "BMW"}, lowercase=True) == "super car brand of the car bmw"
    # Go's strings.ToLower maps rune by rune: no Greek final-sigma rule, one rune for U+0130.
    assert object_text(klass("Car", class_name=False), {"a": "ΟΔΟΣ İ"}, lowercase=True) == "οδοσ i"


def test_flags_count_only_as_json_booleans() -> None:
    # base_class_settings.go: a non-bool vectorizeClassName / skip / vectorizePropertyName means the default.
    cls = {
        "class": "Car",
        "moduleConfig": {HF: {"vectorizeClassName": "false"}},
        "properties": [{"name": "brand", "dataType": ["text"], "moduleConfig": {HF: {"skip": "true"}}}],
    }
    assert object_text(cls, {"brand": "Audi"}) == "Car Audi"


def test_other_modules_property_settings_are_ignored() -> None:
    cls = {
        "class": "Car",
        "properties": [{"name": "brand", "dataType": ["text"], "moduleConfig": {"text2vec-openai": {"skip": True}}}],
    }
    assert object_text(cls, {"brand": "Audi"}) == "Car Audi"


def test_accepts_models_and_objects() -> None:
    cls = WeaviateClass.model_validate(CAR)
    obj = WeaviateObject.model_validate({"id": "a", "properties": {"brand": "Mercedes"}, "class": "Car"})
    assert object_text(cls, obj) == "Car brand Mercedes"
    assert object_text(cls, None) == "Car"
    assert WeaviateObject.model_validate({"id": "b", "properties": None}).properties == {}


# --- objects Weaviate refuses ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("weaviate_class", "properties", "message"),
    [
        (CAR, {"brand": 5}, "invalid text property 'brand' on class 'Car': not a string, but int"),
        (klass("Car", REVIEWS), {"reviews": "one"}, "not an array of strings"),
        (klass("Car", REVIEWS), {"reviews": ["one", 2]}, "not an array of strings"),
        # Weaviate validates before it looks at skip, so a skipped property must still be well-formed.
        (klass("Car", prop("brand", skip=True)), {"brand": 5}, "not a string"),
        (klass("Car"), {"mixed": ["text", "2021-03-04T05:06:07Z"]}, "element [1]: mismatched data type"),
        (klass("Car"), {"mixed": ["text", 3]}, "'text' expected, got 'number'"),
        (klass("Car"), {"first-name": "x"}, "not a valid Weaviate property name"),
        (klass("Car"), {"id": "x"}, "not a valid Weaviate property name"),
        (klass("Car"), {"name": "a", "Name": "b"}, "are the same Weaviate property"),
    ],
)
def test_refused_objects(weaviate_class: dict, properties: dict, message: str) -> None:
    with pytest.raises(InvalidObjectError, match=message.replace("[", r"\[").replace("]", r"\]")) as caught:
        object_text(weaviate_class, properties)
    assert caught.value.status == 422
    assert caught.value.code == "invalid_object"


@pytest.mark.parametrize(
    "definition",
    [
        {"class": "my-class"},
        {"class": "Car", "properties": [{"name": "first name", "dataType": ["text"]}]},
        {"class": "Car", "properties": [{"name": "_id", "dataType": ["text"]}]},
        {"class": "Car", "properties": [prop("brand"), prop("Brand")]},
        {"class": "Car", "properties": [{"name": "brand", "dataType": []}]},
        {"class": "Car", "moduleConfig": {HF: "model"}},
    ],
)
def test_invalid_class_definitions(definition: dict) -> None:
    with pytest.raises(ValueError):
        WeaviateClass.model_validate(definition)


def test_class_definition_keeps_unknown_keys() -> None:
    definition = {
        "class": "article",
        "description": "news",
        "vectorIndexConfig": {"distance": "cosine"},
        "invertedIndexConfig": {"bm25": {"b": 0.75}},
        "properties": [{"name": "Title", "dataType": ["text"], "tokenization": "word", "indexFilterable": True}],
    }
    cls = WeaviateClass.model_validate(definition)
    assert cls.class_name == "Article"
    assert cls.model_extra == {
        "description": "news",
        "vectorIndexConfig": {"distance": "cosine"},
        "invertedIndexConfig": {"bm25": {"b": 0.75}},
    }
    title = cls.get_property("title")
    assert title is not None and title.model_extra == {"tokenization": "word", "indexFilterable": True}
    assert cls.vectorize_class_name is True and title.skip is False and title.vectorize_property_name is False


def test_unsupported_module_features_are_refused() -> None:
    named = {"class": "Car", "vectorConfig": {"main": {"vectorizer": {HF: {"model": "m/x"}}}}}
    with pytest.raises(InvalidConfigError, match="named vector"):
        object_text(named, {"brand": "x"})
    with pytest.raises(InvalidConfigError, match="named vector"):
        module_config(named)
    sources = klass("Car", properties=["brand"])
    with pytest.raises(InvalidConfigError, match="source properties"):
        object_text(sources, {"brand": "x"})


# --- camelCase splitting (github.com/fatih/camelcase README examples) --------------------------


@pytest.mark.parametrize(
    ("name", "parts"),
    [
        ("", []),
        ("lowercase", ["lowercase"]),
        ("Class", ["Class"]),
        ("MyClass", ["My", "Class"]),
        ("MyC", ["My", "C"]),
        ("HTML", ["HTML"]),
        ("PDFLoader", ["PDF", "Loader"]),
        ("AString", ["A", "String"]),
        ("SimpleXMLParser", ["Simple", "XML", "Parser"]),
        ("vimRPCPlugin", ["vim", "RPC", "Plugin"]),
        ("GL11Version", ["GL", "11", "Version"]),
        ("99Bottles", ["99", "Bottles"]),
        ("May5", ["May", "5"]),
        ("BFG9000", ["BFG", "9000"]),
        ("BöseÜberraschung", ["Böse", "Überraschung"]),
        ("Two  spaces", ["Two", "  ", "spaces"]),
    ],
)
def test_camel_case_split(name: str, parts: list[str]) -> None:
    assert camel_case_split(name) == parts


def test_split_camel_case_joins_and_skips_single_spaces() -> None:
    assert split_camel_case("SuperCar") == "Super Car"
    assert split_camel_case("brandOfTheCar") == "brand Of The Car"
    assert split_camel_case("brandOfTheCar", lowercase=True) == "brand of the car"
    # separateCamelCase skips a part that is exactly " "; any other part, however odd, is kept.
    assert split_camel_case("a b") == "a b"
    assert split_camel_case("Two  spaces") == "Two    spaces"


# --- module_config -------------------------------------------------------------------------------


def test_module_config_strips_text_settings_and_validates() -> None:
    cls = klass(
        "Car",
        class_name=False,
        model="sentence-transformers/all-MiniLM-L6-v2",
        options={"waitForModel": True, "useGPU": False, "useCache": True},
    )
    settings = module_config(cls)
    assert settings == {
        "model": "sentence-transformers/all-MiniLM-L6-v2",
        "options": {"waitForModel": True, "useGPU": False, "useCache": True},
    }
    config = ModuleConfig.model_validate(settings)
    assert config.model == "sentence-transformers/all-MiniLM-L6-v2"
    assert config.options.wait_for_model is True


def test_module_config_dpr_pair() -> None:
    cls = klass("Car", passageModel="org/passage", queryModel="org/query", class_name=True)
    config = ModuleConfig.model_validate(module_config(cls))
    assert (config.passage_model, config.query_model) == ("org/passage", "org/query")


def test_module_config_defaults_to_empty() -> None:
    assert module_config({"class": "Car"}) == {}
    assert module_config({"class": "Car", "moduleConfig": None}) == {}
    assert module_config({"class": "Car", "moduleConfig": {"text2vec-openai": {"model": "ada"}}}) == {}
    assert ModuleConfig.model_validate(module_config({"class": "Car"})).model is None


def test_module_config_endpoint_url_spellings() -> None:
    # ent/class_settings.go getEndpointURL: endpointUrl first, then endpointURL.
    url = "https://x.endpoints.huggingface.cloud"
    assert module_config(klass("Car", endpointUrl=url)) == {"endpointURL": url}
    assert module_config(klass("Car", endpointUrl=url, endpointURL="https://other")) == {"endpointURL": url}
    assert module_config(klass("Car", endpointUrl="", endpointURL=url)) == {"endpointURL": url}
    assert ModuleConfig.model_validate(module_config(klass("Car", endpointUrl=url))).endpoint_url == url


def test_module_config_passes_unknown_keys_to_validation() -> None:
    settings = module_config(klass("Car", model="org/m", dimensions=384))
    assert settings == {"model": "org/m", "dimensions": 384}
    with pytest.raises(ValueError, match="unknown config setting"):
        ModuleConfig.model_validate(settings)


def test_module_config_does_not_touch_the_class() -> None:
    cls = WeaviateClass.model_validate(klass("Car", model="org/m", endpointUrl="https://x"))
    module_config(cls)
    assert cls.settings == {"model": "org/m", "endpointUrl": "https://x"}
