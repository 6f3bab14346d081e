"""The only way into a run folder: what it holds (folder), holding it (lock), opening it (open), knowing its files
(identity), and cutting its film (cut).

Import the module you need (`tale_cli.run.folder`, `tale_cli.run.cut`, …): this package imports nothing itself,
so that the records can be read without the film's machinery.
"""
