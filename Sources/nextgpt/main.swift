print("nextgpt")
