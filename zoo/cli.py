"""The `zoo` command line."""

import argparse
import json
import sys


def _cmd_list(args):
    import zoo

    for name in zoo.list_models(args.pattern, family=args.family, task=args.task):
        print(name)
    return 0


def _cmd_info(args):
    import zoo

    print(json.dumps(zoo.model_info(args.name), indent=2, default=str))
    return 0


def build_parser():
    parser = argparse.ArgumentParser(prog="zoo", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("list", help="list registered models")
    p.add_argument("pattern", nargs="?", default="*", help="wildcard, e.g. 'resnet*'")
    p.add_argument("--family")
    p.add_argument("--task")
    p.set_defaults(func=_cmd_list)
    p = sub.add_parser("info", help="family, task, input spec and size of a model")
    p.add_argument("name")
    p.set_defaults(func=_cmd_info)
    return parser


def main(argv=None):
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except ValueError as err:
        print(f"zoo: error: {err}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
