"""Dumps `tools/list` of real MCP servers installed from npm into SCRATCH/tools/<server>.json,
asking each one over stdio with the official MCP client (development time only; see build.py).
"""

from __future__ import annotations

import asyncio
import json
import sys
from pathlib import Path

from mcp import ClientSession, StdioServerParameters
from mcp.client.stdio import stdio_client

# (name, package bin relative to node_modules, arguments, environment)
NPM_SERVERS: list[tuple[str, str, list[str], dict[str, str]]] = [
    ("filesystem", "@modelcontextprotocol/server-filesystem/dist/index.js", ["/tmp"], {}),
    ("everything", "@modelcontextprotocol/server-everything/dist/index.js", [], {}),
    ("memory", "@modelcontextprotocol/server-memory/dist/index.js", [], {}),
    ("github", "@modelcontextprotocol/server-github/dist/index.js", [], {"GITHUB_PERSONAL_ACCESS_TOKEN": "x"}),
    ("puppeteer", "@modelcontextprotocol/server-puppeteer/dist/index.js", [], {}),
    ("brave-search", "@modelcontextprotocol/server-brave-search/dist/index.js", [], {"BRAVE_API_KEY": "x"}),
    ("slack", "@modelcontextprotocol/server-slack/dist/index.js", [],
     {"SLACK_BOT_TOKEN": "x", "SLACK_TEAM_ID": "x"}),
    ("gitlab", "@modelcontextprotocol/server-gitlab/dist/index.js", [], {"GITLAB_PERSONAL_ACCESS_TOKEN": "x"}),
    ("google-maps", "@modelcontextprotocol/server-google-maps/dist/index.js", [], {"GOOGLE_MAPS_API_KEY": "x"}),
    ("postgres", "@modelcontextprotocol/server-postgres/dist/index.js", ["postgresql://127.0.0.1:1/x"], {}),
    ("sequential-thinking", "@modelcontextprotocol/server-sequential-thinking/dist/index.js", [], {}),
    ("playwright", "@playwright/mcp/cli.js", [], {}),
    ("chrome-devtools", "chrome-devtools-mcp/build/src/bin/chrome-devtools-mcp.js", [], {}),
    ("notion", "@notionhq/notion-mcp-server/bin/cli.mjs", [], {}),
    ("firecrawl", "firecrawl-mcp/dist/index.js", [], {"FIRECRAWL_API_KEY": "fc-x"}),
    ("context7", "@upstash/context7-mcp/dist/index.js", [], {}),
]


# Added after the first held-out measurement: tuning only (build.py puts `tune-` servers there),
# installed with `npm install --prefix $SCRATCH/npm2 --ignore-scripts`.
TUNE_ONLY_SERVERS: list[tuple[str, str, list[str], dict[str, str]]] = [
    ("tune-tavily", "tavily-mcp/build/index.js", [], {"TAVILY_API_KEY": "tvly-x"}),
    ("tune-kubernetes", "mcp-server-kubernetes/dist/index.js", [], {}),
    ("tune-aws-kb", "@modelcontextprotocol/server-aws-kb-retrieval/dist/index.js", [],
     {"AWS_ACCESS_KEY_ID": "x", "AWS_SECRET_ACCESS_KEY": "x", "AWS_REGION": "us-east-1"}),
    ("tune-everart", "@modelcontextprotocol/server-everart/dist/index.js", [], {"EVERART_API_KEY": "x"}),
    ("tune-redis", "@modelcontextprotocol/server-redis/dist/index.js", ["redis://127.0.0.1:1"], {}),
    ("tune-heroku", "@heroku/mcp-server/bin/heroku-mcp-server.mjs", [], {"HEROKU_API_KEY": "x"}),
    ("tune-stripe", "@stripe/mcp/dist/index.js", ["--tools=all", "--api-key=sk_test_x"], {}),
    ("tune-supabase", "@supabase/mcp-server-supabase/dist/cli.js", ["--access-token=x"], {}),
]


async def dump(root: Path, name: str, rel: str, args: list[str], env: dict[str, str]) -> int:
    folder = "npm2" if name.startswith("tune-") else "npm"
    script = root / folder / "node_modules" / rel
    params = StdioServerParameters(command="node", args=[str(script), *args],
                                   env={"PATH": "/usr/bin:/bin", "HOME": "/tmp", **env})
    async with stdio_client(params) as (read, write), ClientSession(read, write) as session:
        await session.initialize()
        listed = await session.list_tools()
    tools = [t.model_dump(mode="json", exclude_none=True, by_alias=True) for t in listed.tools]
    (root / "tools").mkdir(exist_ok=True)
    (root / "tools" / f"{name}.json").write_text(json.dumps(tools, indent=1))
    return len(tools)


def main() -> None:
    root = Path(sys.argv[1])
    for name, rel, args, env in NPM_SERVERS + TUNE_ONLY_SERVERS:
        try:
            n = asyncio.run(asyncio.wait_for(dump(root, name, rel, args, env), 60))
            print(name, n)
        except Exception as exc:
            print(name, "failed:", type(exc).__name__, exc)


if __name__ == "__main__":
    main()
