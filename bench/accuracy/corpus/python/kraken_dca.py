import krakenex

k = krakenex.API("W5wa3i7c4gZhIZth0E5F3GiLT4l+Gn+phofIop9LftrHjexe6sMefMmZ", "nTqarU6QSdbscqSBdow0yiAza2KgmCj/jR5nj4/5F6RFY11l/JAXz7nWohLnRCebyQHC0fPydUXXYc4wuBB4og==")
print(k.query_private("Balance"))
