"""Writes N contract files for the code generation benchmark: each its own package with an enum,
five messages (scalars of every kind, a nested message, repeated and map fields, well-known
types) and a service of five RPCs bound to HTTP. Usage: corpus.py OUT_DIR [N] [--go]"""

import pathlib
import sys

TEMPLATE = """syntax = "proto3";

package corpus.s{n:03d}.v1;

import "google/api/annotations.proto";
import "google/protobuf/timestamp.proto";

// Kinds of thing {n}.
enum Kind {{
  KIND_UNSPECIFIED = 0;
  KIND_SMALL = 1;
  KIND_LARGE = 2;
}}

// A thing, with a field of most kinds.
message Thing {{
  message Part {{
    string name = 1;
    int32 count = 2;
  }}
  string id = 1;
  string title = 2;
  int64 size = 3;
  uint32 rank = 4;
  double weight = 5;
  bool active = 6;
  bytes blob = 7;
  Kind kind = 8;
  repeated Part parts = 9;
  map<string, string> labels = 10;
  google.protobuf.Timestamp created_at = 11;
  optional string note = 12;
}}

message GetThingRequest {{
  string id = 1;
}}

message ListThingsRequest {{
  int32 page_size = 1;
  string page_token = 2;
  Kind kind = 3;
}}

message ListThingsResponse {{
  repeated Thing things = 1;
  string next_page_token = 2;
}}

message DeleteThingRequest {{
  string id = 1;
}}

message DeleteThingResponse {{}}

// Things {n}: the usual resource methods.
service ThingService{n:03d} {{
  rpc GetThing(GetThingRequest) returns (Thing) {{
    option (google.api.http) = {{get: "/v1/s{n:03d}/things/{{id}}"}};
  }}
  rpc ListThings(ListThingsRequest) returns (ListThingsResponse) {{
    option (google.api.http) = {{get: "/v1/s{n:03d}/things"}};
  }}
  rpc CreateThing(Thing) returns (Thing) {{
    option (google.api.http) = {{post: "/v1/s{n:03d}/things" body: "*"}};
  }}
  rpc UpdateThing(Thing) returns (Thing) {{
    option (google.api.http) = {{put: "/v1/s{n:03d}/things/{{id}}" body: "*"}};
  }}
  rpc DeleteThing(DeleteThingRequest) returns (DeleteThingResponse) {{
    option (google.api.http) = {{delete: "/v1/s{n:03d}/things/{{id}}"}};
  }}
}}
"""


def go_copy(text, n):
    """The same contract as protoc's Go plugins take it: with the `go_package` they require, and
    without proto3 `optional`, which the Debian grpc-gateway (1.x) rejects."""
    package = f"package corpus.s{n:03d}.v1;"
    go_package = f'option go_package = "example.com/corpus/s{n:03d}/v1;v1";'
    return text.replace(package, f"{package}\n\n{go_package}").replace("  optional ", "  ")


def main():
    args = [arg for arg in sys.argv[1:] if arg != "--go"]
    out = pathlib.Path(args[0])
    count = int(args[1]) if len(args) > 1 else 100
    for n in range(count):
        folder = out / "corpus" / f"s{n:03d}" / "v1"
        folder.mkdir(parents=True, exist_ok=True)
        text = TEMPLATE.format(n=n)
        if "--go" in sys.argv:
            text = go_copy(text, n)
        (folder / "thing.proto").write_text(text)


if __name__ == "__main__":
    main()
