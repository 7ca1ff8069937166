from shapely.geometry import Polygon

polygon_id = "2vEjgt7RuKwatF_DtFzhTuOl9eMx6bW7"
tile = Polygon([(0, 0), (1, 0), (1, 1), (0, 1)])
api_key_header = "x-api-key"
