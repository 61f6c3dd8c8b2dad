"""Exercise sets, one module per notebook; :mod:`lecture_utils.course.exercises` imports every module here.

To add a set for notebook ``NN_topic``: create ``nbNN_topic.py`` that calls ``checkers.register(...)``
for each exercise (ids ``NN.name``), and add the reference solutions to ``tests/solutions/nbNN_topic.py``
(``SOLUTIONS = {id: answer}``); ``tests/test_exercises.py`` then checks them all.
"""
