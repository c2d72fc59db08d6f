from video_insight.cli import main

raise SystemExit(main())
