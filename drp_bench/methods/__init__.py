"""A method as data: the stage kinds there are (``contracts``) and its stages (``spec``)."""
