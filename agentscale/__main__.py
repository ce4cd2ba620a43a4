from agentscale.cli import main

raise SystemExit(main())
