"""PLACEHOLDER until the tree export lands (branch `trees`)."""


class ChallengerArrays:  # noqa: D101
    @classmethod
    def from_dict(cls, data):  # noqa: D102
        raise NotImplementedError
