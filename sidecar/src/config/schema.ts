import type { FromSchema } from 'json-schema-to-ts';

/**
 * The operator configuration schema. It is the documentation of every policy:
 * each key has a description, a default and its unit in its name. Users never
 * edit this file; it belongs to whoever runs the workspace.
 */
export const CONFIG_SCHEMA = {
  $id: 'https://jupyterlab-gpu-workspace/config.schema.json',
  title: 'jupyterlab-gpu-workspace operator configuration',
  type: 'object',
  additionalProperties: false,
  properties: {
    listen_host: {
      description:
        'Address the sidecar listens on. Loopback by default: put a reverse proxy or JupyterHub in front for remote access.',
      type: 'string',
      minLength: 1,
      default: '127.0.0.1'
    },
    allowed_hosts: {
      description:
        'Host names (without port) that requests may name in their Host header; anything else gets 403, so a DNS-rebinding page cannot reach the workspace. Empty: localhost, 127.0.0.1, ::1, listen_host and this machine\'s name. Add the public name when serving remotely (e.g. ["hub.example.edu"]); "*" turns the check off.',
      type: 'array',
      items: { type: 'string', minLength: 1 },
      default: []
    },
    trusted_proxies: {
      description:
        'IP addresses of reverse proxies in front of the sidecar (e.g. JupyterHub\'s) whose X-Forwarded-*, X-Real-Ip and X-Scheme headers are believed. From anyone else those headers are dropped and replaced by what the sidecar sees.',
      type: 'array',
      items: { type: 'string', minLength: 1 },
      default: []
    },
    base_url: {
      description:
        'URL prefix of the whole workspace (Jupyter and the sidecar API), e.g. "/user/alice/" behind JupyterHub. Must start and end with "/".',
      type: 'string',
      pattern: '^/([^/?#]+/)*$',
      default: '/'
    },
    log_level: {
      description: 'Lowest level of the JSON log lines written to stderr.',
      enum: ['debug', 'info', 'warn', 'error'],
      default: 'info'
    },
    jupyter: {
      description: 'How the sidecar starts and supervises the Jupyter server.',
      type: 'object',
      additionalProperties: false,
      default: {},
      properties: {
        command: {
          description:
            'Program and leading arguments that start JupyterLab, e.g. ["/opt/venv/bin/jupyter", "lab"]. Empty: the repository virtual environment\'s jupyter when run from the repository, else "jupyter" on PATH.',
          type: 'array',
          items: { type: 'string', minLength: 1 },
          default: []
        },
        user: {
          description:
            'The notebook user (docker-stacks: "jovyan"). When set, the sidecar must run as root: it starts Jupyter, and so every kernel and terminal, as this user (uid, gid, supplementary groups, HOME set to the home folder, umask 022), so notebook code cannot touch the ledger, the secrets or the sidecar. Unset: Jupyter runs as the sidecar\'s own user and the status says isolation is not enforced.',
          type: 'string',
          minLength: 1,
          pattern: '^[a-z_][a-z0-9_.-]*[$]?$'
        },
        containment: {
          description:
            'How the sidecar finds every process of the workspace, so that stops (idle stop, shutdown), GPU switches, resets and the GPU watchdog reach kernels, terminals and processes that detached from them (setsid, a double fork). ' +
            '"cgroup": a cgroup v2 of the workspace\'s own, a child of the sidecar\'s cgroup (the sidecar must be allowed to create it and move processes into it: root, or a delegated cgroup; under systemd set Delegate=yes); nothing started in the workspace can leave it. ' +
            '"uid": every process whose real uid is jupyter.user\'s; needs jupyter.user, and assumes one workspace per notebook user (anything else that user runs on the machine is stopped with it). ' +
            '"tree": Jupyter\'s descendants only; a detached process outlives stops and GPU switches, and the status says so. ' +
            '"auto": cgroup where the system allows it, else uid with jupyter.user set, else tree. A forced strategy that cannot be used stops start-up, saying why.',
          enum: ['auto', 'cgroup', 'uid', 'tree'],
          default: 'auto'
        },
        extra_args: {
          description: 'Extra command-line arguments passed to the Jupyter server, e.g. ["--ServerApp.iopub_data_rate_limit=1e10"].',
          type: 'array',
          items: { type: 'string' },
          default: []
        },
        start_timeout_seconds: {
          description: 'How long Jupyter may take to answer on its socket before a start counts as failed.',
          type: 'number',
          minimum: 1,
          maximum: 3600,
          default: 120
        },
        stop_timeout_seconds: {
          description: 'How long a graceful stop (kernels shut down, server exits) may take before the process group is killed.',
          type: 'number',
          minimum: 1,
          maximum: 600,
          default: 15
        },
        restart_backoff_initial_seconds: {
          description: 'First delay before restarting a Jupyter server that died on its own; doubles on each further crash.',
          type: 'number',
          minimum: 0.1,
          maximum: 600,
          default: 1
        },
        restart_backoff_max_seconds: {
          description: 'Longest delay between restarts of a crashing Jupyter server.',
          type: 'number',
          minimum: 0.1,
          maximum: 3600,
          default: 30
        },
        request_hold_seconds: {
          description:
            'While Jupyter restarts, proxied requests wait up to this long for it to come back instead of failing at once.',
          type: 'number',
          minimum: 0,
          maximum: 600,
          default: 60
        }
      }
    },
    api: {
      description: 'The sidecar HTTP API.',
      type: 'object',
      additionalProperties: false,
      default: {},
      properties: {
        max_body_bytes: {
          description: 'Largest JSON request body the API accepts; larger bodies get 413.',
          type: 'integer',
          minimum: 1024,
          maximum: 16777216,
          default: 65536
        },
        identity_cache_seconds: {
          description:
            'No longer used, accepted so that older config files still load: the sidecar now checks every credential itself (the workspace token, its own login cookie), without asking Jupyter.',
          type: 'number',
          minimum: 0,
          maximum: 300,
          default: 10
        }
      }
    },
    front_door: {
      description: 'The public HTTP port in front of Jupyter and the API: how long connections are kept.',
      type: 'object',
      additionalProperties: false,
      default: {},
      properties: {
        keep_alive_timeout_seconds: {
          description:
            'How long an idle client connection is kept open for its next request, announced to clients in Keep-Alive: timeout=N (the connection closes a second later, so a client that honours it never races the close). Long, as Jupyter\'s own server keeps them (an hour): a client reusing a connection just as the server closes it gets a reset it did not cause.',
          type: 'number',
          minimum: 0.1,
          maximum: 3600,
          default: 300
        },
        upstream_idle_seconds: {
          description:
            'How long an idle pooled connection to Jupyter is kept. Well under Jupyter\'s own idle limit (an hour), so the sidecar, not Jupyter, closes it and never sends a request on a connection Jupyter is closing.',
          type: 'number',
          minimum: 0.05,
          maximum: 600,
          default: 30
        }
      }
    },
    gpu: {
      description: 'GPU mode, metering and the GPU-hours quota.',
      type: 'object',
      additionalProperties: false,
      default: {},
      properties: {
        backend: {
          description: 'How GPU mode is switched. "local": restart Jupyter with the GPUs visible or hidden (CUDA_VISIBLE_DEVICES).',
          enum: ['local'],
          default: 'local'
        },
        nvidia_smi: {
          description: 'The nvidia-smi program used to find GPUs and read their utilisation.',
          type: 'string',
          minLength: 1,
          default: 'nvidia-smi'
        },
        tick_seconds: {
          description: 'Metering tick: GPU time is written to the ledger this often, so a killed sidecar loses or overcharges at most one tick.',
          type: 'number',
          minimum: 0.2,
          maximum: 600,
          default: 30
        },
        utilization_poll_seconds: {
          description: 'How often GPU utilisation and memory are read while GPU mode is on.',
          type: 'number',
          minimum: 0.2,
          maximum: 600,
          default: 10
        },
        idle_utilization_percent: {
          description: 'Below this utilisation (all devices) the GPU counts as idle.',
          type: 'number',
          minimum: 0,
          maximum: 100,
          default: 5
        },
        idle_warning_minutes: {
          description: 'GPU mode on and the GPU idle this long: the user is warned that hours are burning, with a Disable GPU action.',
          type: 'number',
          minimum: 0.01,
          maximum: 1440,
          default: 15
        },
        device_group: {
          description:
            'The Unix group that owns the GPU device nodes (e.g. "video" or "nvidia"). With jupyter.user set, Jupyter gets this group only in GPU mode, so in CPU mode the operating system refuses kernels the GPU whatever they set in CUDA_VISIBLE_DEVICES. Unset: CPU mode relies on the environment and the watchdog only.',
          type: 'string',
          minLength: 1
        },
        device_paths: {
          description: 'The GPU device nodes whose permissions are checked at start (a trailing * matches any ending). Nodes open to everyone make CPU mode unenforceable: the status says so.',
          type: 'array',
          items: { type: 'string', pattern: '^/' },
          default: ['/dev/nvidia*']
        },
        watchdog_seconds: {
          description: 'How often, in CPU mode, nvidia-smi is asked which processes hold GPU memory; any of the workspace\'s is stopped and the user told why. 0 turns the watchdog off.',
          type: 'number',
          minimum: 0,
          maximum: 3600,
          default: 10
        },
        exhaustion_grace_seconds: {
          description: 'When the hours run out, open pages save their documents and this long later the sidecar switches to CPU mode, with or without a page open. A grant in the meantime calls the switch off. Not charged.',
          type: 'number',
          minimum: 0,
          maximum: 600,
          default: 60
        },
        quota: {
          description: 'GPU hours each user may spend per period. CPU mode is never metered.',
          type: 'object',
          additionalProperties: false,
          default: {},
          properties: {
            hours: {
              description: 'GPU hours per period (before grants).',
              type: 'number',
              minimum: 0,
              maximum: 100000,
              default: 10
            },
            period: {
              description: '"total" (never resets), "week", "day", or "rolling:<N>h" (the last N whole hours, 1 to 8760).',
              type: 'string',
              pattern: '^(total|week|day|rolling:[0-9]+h)$',
              default: 'week'
            },
            period_anchor: {
              description: 'An instant where a day or week period starts (ISO 8601 with offset), e.g. "2026-01-05T00:00:00+01:00" for Mondays at midnight in Paris.',
              type: 'string',
              minLength: 10,
              default: '2026-01-05T00:00:00Z'
            },
            warn_minutes: {
              description: 'Staged warnings: the user is told when this many minutes are left.',
              type: 'array',
              items: { type: 'number', exclusiveMinimum: 0, maximum: 100000 },
              maxItems: 10,
              default: [60, 15]
            }
          }
        },
        profiles: {
          description: 'GPU profiles the user can choose from when more than one is listed. weight: hours charged per hour of use (0.5 for half a GPU). devices: CUDA_VISIBLE_DEVICES value for this profile (empty: all GPUs).',
          type: 'array',
          maxItems: 16,
          default: [],
          items: {
            type: 'object',
            additionalProperties: false,
            required: ['name', 'weight'],
            properties: {
              name: { type: 'string', pattern: '^[a-z0-9][a-z0-9_-]{0,31}$' },
              label: { type: 'string', minLength: 1, maxLength: 80 },
              weight: { type: 'number', exclusiveMinimum: 0, maximum: 64 },
              devices: { type: 'string', maxLength: 200 }
            }
          }
        }
      }
    },
    idle: {
      description: 'The inactivity policy: with nothing happening for timeout_minutes, the sidecar stops Jupyter (files stay, kernel memory is lost) and serves the stopped page until the user presses Start.',
      type: 'object',
      additionalProperties: false,
      default: {},
      properties: {
        timeout_minutes: {
          description: 'Minutes without activity before the workspace stops. Fractions allowed (0.5 is 30 seconds). JupyterLab\'s background polling never counts as activity.',
          type: 'number',
          exclusiveMinimum: 0,
          maximum: 10080,
          default: 30
        },
        warning_minutes: {
          description: 'How many minutes before the stop open pages show the countdown dialog. Larger than timeout_minutes: the warning shows from the start.',
          type: 'number',
          minimum: 0,
          maximum: 1440,
          default: 5
        },
        signals: {
          description: 'What counts as activity. "user": real input in a visible JupyterLab tab and keep-awake leases. "user_or_kernels": also busy kernels and output in an open terminal.',
          enum: ['user', 'user_or_kernels'],
          default: 'user'
        },
        kernel_poll_seconds: {
          description: 'With signals "user_or_kernels": how often the sidecar asks Jupyter whether a kernel is busy or a terminal wrote output.',
          type: 'number',
          minimum: 0.1,
          maximum: 600,
          default: 10
        }
      }
    },
    keep_awake: {
      description: 'Keep-awake leases (workspace_utils.keep_awake, active_session, the keep-awake command): a running process holds the workspace awake.',
      type: 'object',
      additionalProperties: false,
      default: {},
      properties: {
        max_hours: {
          description: 'Hard cap on one lease, in hours: after this long it ends even if its process still runs. A longer ttl asked for is lowered to this.',
          type: 'number',
          exclusiveMinimum: 0,
          maximum: 720,
          default: 12
        },
        heartbeat_seconds: {
          description: 'How often lease holders heartbeat; a lease whose heartbeats stop for 3 times this long ends.',
          type: 'number',
          minimum: 0.1,
          maximum: 600,
          default: 15
        },
        max_leases: {
          description: 'Most leases held at once; one more is refused with 429.',
          type: 'integer',
          minimum: 1,
          maximum: 10000,
          default: 64
        },
        max_acquires_per_minute: {
          description: 'Most lease acquisitions per minute (a loop creating leases is refused with 429).',
          type: 'integer',
          minimum: 1,
          maximum: 100000,
          default: 120
        }
      }
    },
    home: {
      description: 'The user\'s home folder: its size cap and what does not count.',
      type: 'object',
      additionalProperties: false,
      default: {},
      properties: {
        cap_bytes: {
          description:
            'Most bytes the home folder may hold (apparent size, as du -sb counts; excluded names do not count). Default 3 GB in decimal units (3e9 bytes), as the product promises "3 GB". Over it a snapshot is refused, listing the largest folders and files, and the front door refuses Contents API uploads that would cross it (413).',
          type: 'integer',
          minimum: 1,
          default: 3000000000
        },
        exclude: {
          description:
            'Names (globs with *, ? and [...], no "/") of files and folders, at any depth, that are neither counted against the cap nor snapshotted: caches that rebuild themselves.',
          type: 'array',
          items: { type: 'string', minLength: 1, pattern: '^[^/]+$' },
          default: ['.cache', '__pycache__', '.ipynb_checkpoints', '.Trash-*']
        },
        trash: {
          description:
            'Whether deleting a file in JupyterLab moves it to a Trash (~/.local/share/Trash, inside the home) instead of deleting it. Off by default: snapshots are the undo, and a Trash in the capped home only takes space (a student at the cap deletes the big file and stays at the cap). When on, the Trash counts against the cap and the home usage dialog shows it with an Empty Trash button.',
          type: 'boolean',
          default: false
        }
      }
    },
    snapshots: {
      description: 'Home snapshots with restic, into a repository in the state directory.',
      type: 'object',
      additionalProperties: false,
      default: {},
      properties: {
        restic: {
          description: 'The restic program (Debian\'s restic 0.14 or later).',
          type: 'string',
          minLength: 1,
          default: 'restic'
        },
        schedule_minutes: {
          description: 'A snapshot every this many minutes while the workspace runs (trigger "schedule"); 0 turns the schedule off.',
          type: 'number',
          minimum: 0,
          maximum: 10080,
          default: 60
        },
        before_gpu_switch: {
          description: 'Take a snapshot (trigger "gpu-switch") before every GPU switch; a failed snapshot never blocks the switch.',
          type: 'boolean',
          default: true
        },
        restore_empty_home: {
          description: 'At start, when the home folder is empty and a snapshot exists, restore the latest one into it.',
          type: 'boolean',
          default: true
        },
        keep_last: {
          description: 'Retention: keep the last this many snapshots (0: no such rule). Older ones not kept by another rule are forgotten and pruned.',
          type: 'integer',
          minimum: 0,
          maximum: 10000,
          default: 20
        },
        keep_daily: {
          description: 'Retention: also keep the last snapshot of each of this many days.',
          type: 'integer',
          minimum: 0,
          maximum: 10000,
          default: 7
        },
        keep_weekly: {
          description: 'Retention: also keep the last snapshot of each of this many weeks.',
          type: 'integer',
          minimum: 0,
          maximum: 10000,
          default: 4
        },
        command_timeout_seconds: {
          description:
            'The longest each kind of restic command may run. Past it, restic is stopped (SIGINT, then SIGKILL after stop_grace_seconds) and its lock cleared (restic unlock), the operation fails with snapshots_unavailable saying what timed out, and the next one in the queue starts: one hung restic never blocks later snapshots, resets and submissions.',
          type: 'object',
          additionalProperties: false,
          default: {},
          properties: {
            backup: {
              description: 'A snapshot of the home (restic backup). Generous: a first snapshot of a 3 GB home on a slow disk takes minutes.',
              type: 'number',
              exclusiveMinimum: 0,
              maximum: 604800,
              default: 7200
            },
            restore: {
              description: 'A restore (restic restore) of a file, a folder or the whole home, into the staging folder.',
              type: 'number',
              exclusiveMinimum: 0,
              maximum: 604800,
              default: 7200
            },
            check: {
              description: 'A repository check (restic check), run by the operator.',
              type: 'number',
              exclusiveMinimum: 0,
              maximum: 604800,
              default: 3600
            },
            prune: {
              description: 'Retention after a snapshot (restic forget --prune).',
              type: 'number',
              exclusiveMinimum: 0,
              maximum: 604800,
              default: 3600
            },
            other: {
              description: 'Everything else: opening the repository (init, unlock), listing snapshots and the files of one.',
              type: 'number',
              exclusiveMinimum: 0,
              maximum: 604800,
              default: 600
            }
          }
        },
        stall_timeout_seconds: {
          description:
            'A snapshot whose progress has not moved for this long (no status line from restic with new numbers, no new message) counts as hung and is stopped as at its deadline: a full disk makes restic 0.14 retry with back-off, silently, rather than fail. 0 turns the check off.',
          type: 'number',
          minimum: 0,
          maximum: 86400,
          default: 300
        },
        stop_grace_seconds: {
          description: 'How long restic has to stop cleanly (and remove its lock) after SIGINT before it is killed.',
          type: 'number',
          exclusiveMinimum: 0,
          maximum: 600,
          default: 15
        }
      }
    },
    submit: {
      description:
        'Submit Project: the operator\'s manifest. The user sees a checklist (each required file present or missing, the conversions that will run, the total size) and can submit only when it is complete; the sidecar then runs the conversions, builds a zip carrying MANIFEST.json with the sha256 of every file, takes a "pre-submit" snapshot, delivers the zip and records a receipt. Paths and globs are relative to the home folder: "*" and "?" match within one name, "**" any number of folders, [abc] one of the characters; wildcards do not match names starting with a dot (name them), nor names in home.exclude. Symbolic links are never followed.',
      type: 'object',
      additionalProperties: false,
      default: {},
      properties: {
        enabled: {
          description: 'Whether the workspace offers Submit Project (menu, palette, API). Off: the menu item is hidden and POST submit is refused.',
          type: 'boolean',
          default: false
        },
        required: {
          description:
            'The files a submission must hold, as paths or globs relative to the home (e.g. ["project.ipynb", "data/*.csv", "report"]). Each must match at least one regular file for the checklist to be complete; a folder matches every file below it. These files, and the conversions\' outputs, are what the archive carries. A path outside the home (absolute, or with "..") stops start-up.',
          type: 'array',
          items: { type: 'string', minLength: 1, maxLength: 1024 },
          maxItems: 200,
          default: []
        },
        conversions: {
          description:
            'Files converted at submission time, each as an operator hook (as the notebook user, in the workspace\'s environment): "to": "html" runs `jupyter nbconvert --to html` on every file matching "from" (a glob relative to the home). The output goes into the archive beside its source ("a/b.ipynb" → "a/b.html"); the home is not changed. A conversion with no file to convert makes the checklist incomplete; a failing one fails the submission with its log.',
          type: 'array',
          maxItems: 50,
          default: [],
          items: {
            type: 'object',
            additionalProperties: false,
            required: ['from', 'to'],
            properties: {
              from: { type: 'string', minLength: 1, maxLength: 1024 },
              to: { enum: ['html'] }
            }
          }
        },
        max_bytes: {
          description: 'Most bytes the submitted files may hold together (their own sizes, before compression, conversions\' outputs included). Over it the submission is refused with 413, naming the largest files.',
          type: 'integer',
          minimum: 1,
          default: 100000000
        },
        destination: {
          description:
            'Where the zip goes. {"type": "directory", "path": "/srv/exchange"}: copied into that folder (absolute, outside the home) as "<user>-<UTC time>-<id>.zip". {"type": "http", "url": "https://…", "token": "…"}: a multipart/form-data POST (fields "archive", the zip, and "manifest", the MANIFEST.json) with "Authorization: Bearer <token>"; any 2xx answer counts as delivered. The token can come from the environment (GPU_WORKSPACE__SUBMIT__DESTINATION__TOKEN) and is never shown to the user nor written to receipts. {"type": "command", "command": ["/usr/local/bin/hand-in"]}: runs as an operator hook (as the notebook user, time limit hook_timeout_seconds) with the zip\'s path in the environment variable SUBMISSION_ZIP (also SUBMISSION_ID, SUBMISSION_SHA256 and SUBMISSION_NAME); exit code 0 counts as delivered. Required when enabled.',
          type: 'object',
          discriminator: { propertyName: 'type' },
          required: ['type'],
          properties: { type: { enum: ['directory', 'http', 'command'] } },
          oneOf: [
            {
              type: 'object',
              additionalProperties: false,
              required: ['type', 'path'],
              properties: { type: { const: 'directory' }, path: { type: 'string', pattern: '^/' } }
            },
            {
              type: 'object',
              additionalProperties: false,
              required: ['type', 'url', 'token'],
              properties: { type: { const: 'http' }, url: { type: 'string', pattern: '^https?://' }, token: { type: 'string', minLength: 1 } }
            },
            {
              type: 'object',
              additionalProperties: false,
              required: ['type', 'command'],
              properties: { type: { const: 'command' }, command: { type: 'array', minItems: 1, items: { type: 'string', minLength: 1 } } }
            }
          ]
        },
        hook_timeout_seconds: {
          description: 'Time limit of each conversion and of a command destination; a hook still running then is stopped (SIGTERM, then SIGKILL) and the submission fails.',
          type: 'number',
          minimum: 1,
          maximum: 3600,
          default: 300
        },
        delivery_timeout_seconds: {
          description: 'Time limit of an HTTP delivery (connecting, sending the zip and reading the answer); past it the delivery counts as failed and can be retried.',
          type: 'number',
          minimum: 1,
          maximum: 3600,
          default: 120
        },
        nbconvert_command: {
          description:
            'Program and leading arguments that run nbconvert, e.g. ["/opt/venv/bin/jupyter", "nbconvert"]. Empty: the "jupyter" program beside jupyter.command\'s (the workspace\'s own environment), with "nbconvert".',
          type: 'array',
          items: { type: 'string', minLength: 1 },
          default: []
        }
      }
    },
    reset: {
      description:
        'Reset Data: the user types "Reset data" and the home\'s files are replaced by a clean copy of a template. A snapshot tagged "pre-reset" is taken first, and the reset is refused when it cannot be (a reset must be undoable: the user undoes it by restoring that snapshot whole). Jupyter, kernels and terminals are stopped for the swap; a journal in the state directory makes a reset interrupted by a crash finish or roll back at the next start. Names in home.exclude at the top of the home (caches) stay as they are.',
      type: 'object',
      additionalProperties: false,
      default: {},
      properties: {
        template_dir: {
          description:
            'The clean home: an absolute path to a folder outside the home, read by the sidecar (root) and copied whole (links as links) for the notebook user at every reset. Unset: the home as it was at the workspace\'s first start, copied into the state directory (reset/template) before Jupyter first starts, leaving out home.exclude\'s names.',
          type: 'string',
          pattern: '^/'
        },
        post_reset_hook: {
          description:
            'A command (a list of strings, no shell) run after the swap and before Jupyter starts again, as the notebook user in the home folder, under a pseudo-terminal whose output the user can open in the log panel. Empty: none. If it fails or hits hook_timeout_seconds, the reset is reported as failed with its log; the home stays reset and Jupyter starts anyway. The pre-reset snapshot id is in its environment as GPU_WORKSPACE_RESET_SNAPSHOT.',
          type: 'array',
          items: { type: 'string', minLength: 1 },
          default: []
        },
        hook_timeout_seconds: {
          description: 'The post-reset hook is stopped (SIGTERM, then SIGKILL) after this many seconds.',
          type: 'number',
          exclusiveMinimum: 0,
          maximum: 86400,
          default: 300
        }
      }
    },
    operator: {
      description: 'Operator access (grants, metrics).',
      type: 'object',
      additionalProperties: false,
      default: {},
      properties: {
        token: {
          description: 'Token for operator-only API calls. Unset: operator calls are refused.',
          type: 'string',
          minLength: 16
        }
      }
    }
  }
} as const;

/**
 * The configuration after loading: the schema's own type, with every key that
 * has a default present (ajv fills defaults in). Derived, never written by
 * hand, so a key added to the schema is a key of the type.
 */
export type WorkspaceConfig = FromSchema<typeof CONFIG_SCHEMA>;

/** snapshots.command_timeout_seconds: the deadline of each kind of restic command, in seconds. */
export type ResticTimeouts = WorkspaceConfig['snapshots']['command_timeout_seconds'];

export type GpuProfileConfig = WorkspaceConfig['gpu']['profiles'][number];

export type SubmitConfig = WorkspaceConfig['submit'];

export type SubmitDestinationConfig = NonNullable<SubmitConfig['destination']>;
