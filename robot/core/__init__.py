"""The control process, split into parts with one job each.

`robot.runtime.Runtime` builds these parts, starts them and stops them; none of them knows
the others beyond the small callables it is given. Data flows one way: workers, devices and
staff commands become typed inputs (`inputs`), the tick (`tick`) steps the state machine
(`machine`), and its intents are carried out (`actions`) by the speech channel (`speech`),
the staff channel (`staff`), the worker channel (`workers`) and motion. Files and the terminal
belong to the housekeeper (`housekeeping`); systemd hears from `watchdog`.
"""
