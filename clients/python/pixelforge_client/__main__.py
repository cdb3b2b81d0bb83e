from pixelforge_client.cli import main

raise SystemExit(main())
